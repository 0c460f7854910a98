"""What Adaptive Computation Pruning saves: FLOPs and time of fox with pruning off and on, by gate setting.

For each initial forget-gate bias, the same weights are run without pruning and with ``acp_log_eps``;
the table gives the fraction of attention rows read, the counted matrix-multiply FLOPs of a forward
and backward pass (torch's FlopCounterMode), and median times of a forward pass (no grad) and of a
training step (forward, loss, backward), interleaved so that load on a shared machine hits both alike.

    python examples/attnbench-fox/scripts/acp_figures.py --batch 32 --seq-len 512 --hidden 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from attnbench.variants import build_variant
from torch.utils.flop_counter import FlopCounterMode

from attnbench_fox import ForgettingAttentionLSTM

INPUT, OUTPUT = 10, 9  # copy-task sized


def _median_time(fn: Callable[[], object], samples: list[float]) -> None:
    start = time.perf_counter()
    fn()
    samples.append(time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--log-eps", type=float, default=-10.0)
    ap.add_argument("--forget-bias", type=float, nargs="+", default=[3.0, 0.0, -3.0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1: a shared CPU)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.seq_len, INPUT, generator=torch.Generator().manual_seed(0))
    full_rows = sum(ForgettingAttentionLSTM.keys_read(args.seq_len, None))
    print(f"B={args.batch} T={args.seq_len} H={args.hidden} log_eps={args.log_eps} threads={args.threads}")
    print("| forget_bias | acp | rows read | GFLOP fwd+bwd | forward ms | train step ms |")
    print("|---|---|---|---|---|---|")
    for bias in args.forget_bias:
        models = {}
        for acp in (None, args.log_eps):
            torch.manual_seed(0)
            models[acp] = build_variant("fox", INPUT, OUTPUT, args.hidden, forget_bias=bias, acp_log_eps=acp)
        figures = {}
        for acp, model in models.items():
            with torch.no_grad():
                diag = model(x, diagnostics=True).diagnostics
            rows = sum(w.shape[1] for w in diag.weights if w is not None)
            with FlopCounterMode(display=False) as counter:
                model(x).logits.square().mean().backward()
            figures[acp] = {"rows": rows / full_rows, "flops": counter.get_total_flops() / 1e9, "fwd": [], "step": []}

        def step(model: torch.nn.Module) -> None:
            model.zero_grad(set_to_none=True)
            model(x).logits.square().mean().backward()

        for _ in range(args.repeats):
            for acp, model in models.items():
                with torch.no_grad():
                    _median_time(lambda model=model: model(x), figures[acp]["fwd"])
                _median_time(lambda model=model: step(model), figures[acp]["step"])
        for acp, f in figures.items():
            fwd, stp = (1e3 * statistics.median(f[k][1:] or f[k]) for k in ("fwd", "step"))
            label = "off" if acp is None else f"{acp:g}"
            print(f"| {bias:g} | {label} | {f['rows']:.1%} | {f['flops']:.3f} | {fwd:.0f} | {stp:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
