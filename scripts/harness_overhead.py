"""What the timer costs: N training steps through ``attnbench.measure.time_fn`` against N raw steps.

Each trial runs N raw steps in a plain loop and N steps through the timer (no warm-up, so the two
do the same work), in alternating order; the ratio of the two wall times is the harness's cost
factor (the issue's budget: at most 1.1). Also reports what a whole ``measure()`` call costs in
units of one step, for context (it also counts FLOPs, saved bytes, reach, and so on).

    python scripts/harness_overhead.py --variant lstm -p fused=false --seq-len 50 -n 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from attnbench.cli.train_cmd import parse_assignments
from attnbench.measure import Options, Point, measure, resolve_device, time_fn
from attnbench.measure._device import synchronize
from attnbench.tasks import build_task
from attnbench.training import build_model


def raw_loop(step, n: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(n):
        step()
    synchronize(device)
    return time.perf_counter() - start


def timed_loop(step, n: int, device: torch.device) -> float:
    start = time.perf_counter()
    time_fn(step, repeats=n, warmup=0, device=device)
    return time.perf_counter() - start


def overhead(step, n: int, trials: int, device: torch.device) -> dict:
    """Median over trials of (timer wall time) / (raw wall time) for N steps."""
    step()  # warm both paths up once
    raw, timed = [], []
    for trial in range(trials):
        order = (raw_loop, timed_loop) if trial % 2 == 0 else (timed_loop, raw_loop)
        for fn in order:
            (raw if fn is raw_loop else timed).append(fn(step, n, device))
    ratios = [t / r for t, r in zip(timed, raw)]
    return {
        "n": n,
        "trials": trials,
        "raw_s": statistics.median(raw),
        "timed_s": statistics.median(timed),
        "ratio_median": statistics.median(ratios),
        "ratio_of_medians": statistics.median(timed) / statistics.median(raw),
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="lstm")
    ap.add_argument("-p", "--param", action="append", metavar="NAME=VALUE")
    ap.add_argument("--task", default="copy")
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("-n", type=int, default=20, help="steps per loop")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--measure", action="store_true", help="also time one whole measure() call")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    params = parse_assignments(args.param, "--param")
    task = build_task(args.task).with_seq_len(args.seq_len)
    model = build_model(args.variant, task, args.hidden, 0, **params).to(device)
    x, y = task.sample(args.batch, torch.Generator().manual_seed(0), device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        task.loss(model(x).logits, y).backward()

    result = overhead(step, args.n, args.trials, device)
    result.update(variant=args.variant, params=params, task=task.label(), T=task.seq_len, batch=args.batch)
    result.update(hidden=args.hidden, device=str(device), threads=torch.get_num_threads())
    per_step = result["raw_s"] / args.n
    print(
        f"{args.variant}{params or ''} on {task.label()} (T={task.seq_len}), batch {args.batch}, hidden {args.hidden}, "
        f"{device}, {torch.get_num_threads()} threads: one step {per_step * 1e3:.2f} ms"
    )
    print(
        f"  {args.n} raw steps {result['raw_s']:.4f} s, through the timer {result['timed_s']:.4f} s: "
        f"ratio {result['ratio_median']:.3f} (median of {args.trials} trials; "
        f"range {min(result['ratios']):.3f}-{max(result['ratios']):.3f})"
    )
    if args.measure:
        point = Point.make(args.variant, args.task, seq_len=args.seq_len, variant_params=params, batch=args.batch,
                           hidden_size=args.hidden, device=args.device)  # fmt: skip
        start = time.perf_counter()
        measure(point, Options(repeats=args.n))
        whole = time.perf_counter() - start
        result["measure_s"] = whole
        print(f"  one measure() call with repeats={args.n}: {whole:.2f} s = {whole / per_step:.0f} steps")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
