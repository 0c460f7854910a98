"""When does an attention variant start to copy by attending at the symbols?

Trains one variant on the copy task and, every ``--every`` steps, prints the accuracy at each of the
10 recall positions, the time step that gets the largest attention weight at each recall step (the
mode over a held-out batch; the symbols sit at steps 0-9), and, with ``--held``, the time steps held
in the attention set at the first recall step of example 0. This is how the reproduction's dense and
rsm results were diagnosed (see the notes under ``attnbench reproduce``'s table):

    python scripts/copy_attention_onset.py rsm --seed 1 -p nu=10 -p rho=15 --held
"""

from __future__ import annotations

import argparse
import time

import torch

from attnbench.cli.train_cmd import parse_assignments
from attnbench.config import Options
from attnbench.tasks.copy_task import CopyTask
from attnbench.training import build_model, train


def report(model: torch.nn.Module, task: CopyTask, step: int, elapsed: float, held: bool) -> str:
    """One line: accuracy per recall position, the step attended most at each recall step."""
    with torch.no_grad():
        x, y = task.sample(256, torch.Generator().manual_seed(5))
        out = model(x, diagnostics=True)
    accuracy = (out.logits[:, -10:].argmax(-1) == y[:, -10:]).float().mean(0)
    line = f"step {step} ({elapsed:.0f} s): accuracy {accuracy.mean():.3f}, per position "
    line += " ".join(f"{a:.2f}" for a in accuracy)
    d = out.diagnostics
    if d is not None and d.weights[-1] is not None:
        first_recall = x.shape[1] - 10
        tops = []
        for k in range(10):
            w, at = d.weights[first_recall + k], d.attended[first_recall + k]
            tops.append(int(at.gather(1, w.argmax(1, keepdim=True)).squeeze(1).mode().values))
        line += f" | step attended most at each recall step: {tops}"
        if held:
            line += f" | held at the first recall step: {sorted(d.attended[first_recall][0].tolist())}"
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant")
    ap.add_argument("--delay", type=int, default=20, help="copy delay T (default 20, as reproduce)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--optimizer", default="rmsprop", choices=["adam", "rmsprop"])
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-p", "--param", action="append", default=[], help="variant parameter NAME=VALUE")
    ap.add_argument("--held", action="store_true", help="also print the attended set at the first recall")
    args = ap.parse_args(argv)
    task = CopyTask(seq_len=args.delay)
    model = build_model(args.variant, task, args.hidden, args.seed, **parse_assignments(args.param, "-p"))
    options = Options(train_steps=args.steps, train_batch=args.batch, optimizer=args.optimizer, lr=args.lr)
    start = time.perf_counter()

    def on_step(step: int, trained: torch.nn.Module) -> None:
        if step % args.every == 0:
            print(report(trained, task, step, time.perf_counter() - start, args.held), flush=True)

    train(model, task, options, on_step=on_step, seed=args.seed)  # the training attnbench reproduce runs
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
