"""Training-step time of each variant against an LSTMCell loop of the same size, in one run.

One step = forward, cross-entropy over every step, backward, on a copy-task-shaped batch
(input 10 one-hot classes, 9 output classes). Prints a table and, with --json, writes the figures.

    python scripts/step_speed.py --batch 32 --seq-len 1020
    python scripts/step_speed.py --device cuda   # against cuDNN's fused LSTM (lstm-fused)
    python scripts/step_speed.py --compile default --seq-len 120   # each variant also under torch.compile

With --compile MODE every variant also runs as ``<label>:c``, the same model under torch.compile (the
measure option ``compile``, attnbench.measure.compiled), timed in the same rounds as its eager twin;
its warm-up round compiles it, and that round's time less the compiled median is shown as compile time,
never in the step time.

dense, rsm and sab run their whole sequence as one autograd node (attnbench.ops.lstm_cell); lstm-cell is
torch.lstm_cell under autograd, one node per step, the yardstick the issue's ratios are taken against.
On CUDA every timed step ends with a device synchronisation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from attnbench.config import COMPILE_MODES
from attnbench.measure.allocator import keep_freed_memory
from attnbench.measure.compiled import compile_model
from attnbench.variants import build_variant

CONFIGS = [
    ("lstm-cell", "lstm", {"fused": False}),
    ("lstm-fused", "lstm", {"fused": True}),
    ("rsm", "rsm", {"nu": 10, "rho": 15}),
    ("sab", "sab", {"k_trunc": 10, "k_att": 10, "k_top": 5}),
    ("dense", "dense", {}),
]
HEAVY = {"dense"}  # timed in rounds of their own, after the others


def _make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    cuda = x.device.type == "cuda"

    def step() -> None:
        model.zero_grad(set_to_none=True)
        logits = model(x).logits
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
        if cuda:
            torch.cuda.synchronize(x.device)

    return step


def _run_rounds(
    labels: list[str],
    steps: dict,
    times: dict[str, list[float]],
    errors: dict[str, str],
    repeats: int,
    first: dict[str, float],
) -> None:
    for round_ in range(repeats + 1):  # round 0 is the warm-up
        for label in labels:
            if label in errors:
                continue
            try:
                t0 = time.perf_counter()
                steps[label]()
                if round_:
                    times[label].append(time.perf_counter() - t0)
                else:
                    first[label] = time.perf_counter() - t0
            except Exception as exc:  # out of memory on the host; a compile that fails
                errors[label] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        print(f"{', '.join(labels)}: round {round_} done", file=sys.stderr, flush=True)
    for label in labels:  # so that a later block killed for memory loses nothing measured here
        median = statistics.median(times[label]) if times[label] else None
        print(f"{label}: median {median} s, samples {times[label]}, error {errors.get(label)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=1020)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="labels to run (default: all)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--system-malloc", action="store_true", help="leave glibc's allocator as it is")
    ap.add_argument(
        "--compile", choices=COMPILE_MODES[1:], help="also time each variant under torch.compile in this mode"
    )
    args = ap.parse_args(argv)
    malloc_kept = False if args.system_malloc else keep_freed_memory()  # as attnbench measure does
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"step_speed: --device {args.device} is not allowed here; no CUDA device is available", file=sys.stderr)
        return 2
    x = F.one_hot(torch.randint(0, 10, (args.batch, args.seq_len)), 10).float().to(device)
    y = torch.randint(0, 9, (args.batch, args.seq_len)).to(device)
    chosen = [c for c in CONFIGS if not args.only or c[0] in args.only]
    steps, times, errors, first = {}, {}, {}, {}
    for label, name, params in chosen:
        model = build_variant(name, 10, 9, args.hidden, **params).to(device)
        steps[label] = _make_step(model, x, y)
        times[label] = []
        if args.compile:  # the same model (its parameters) under torch.compile, compiled in its warm-up round
            steps[f"{label}:c"] = _make_step(compile_model(model, args.compile), x, y)
            times[f"{label}:c"] = []
    # Rounds interleave the variants so that drift in machine speed hits all of them alike. Dense
    # attention allocates tens of times more memory a step than the others, and the page faults of
    # the step after it slowed that step several-fold, so it runs its rounds after the interleaved ones.
    light = [label for label in steps if label.removesuffix(":c") not in HEAVY]
    blocks = [light] + [[label, f"{label}:c"] if args.compile else [label] for label, _, _ in chosen if label in HEAVY]
    for block in blocks:
        _run_rounds(block, steps, times, errors, args.repeats, first)
    base_times = times.get("lstm-cell", [])
    rows = []
    for label, ts in times.items():
        # within one round the variants run back to back, so the ratio of their times cancels the drift in
        # machine speed from minute to minute; the median of those ratios is the steadiest figure
        paired = label in light and len(ts) == len(base_times) > 0
        round_ratios = [t / b for t, b in zip(ts, base_times)] if paired else []
        rows.append(
            {
                "label": label,
                "median_s": statistics.median(ts) if ts else None,
                "min_s": min(ts) if ts else None,
                "round_ratio_median": statistics.median(round_ratios) if round_ratios else None,
                "round_ratios": round_ratios,
                # the warm-up round less the median: what compiling cost (compiled labels only)
                "compile_s": first[label] - statistics.median(ts) if label.endswith(":c") and ts else None,
                "times_s": ts,
                "error": errors.get(label),
            }
        )
    # The median is the figure of record; the minimum is the least-disturbed sample on a shared machine
    # whose speed drifts from minute to minute (timeit's advice), and the median of per-round ratios the
    # least drift-sensitive ratio (variants timed in their own rounds, dense, have none), shown beside it.
    base = {key: next((r[key] for r in rows if r["label"] == "lstm-cell"), None) for key in ("median_s", "min_s")}
    print(
        f"batch {args.batch}, seq_len {args.seq_len}, hidden {args.hidden}, device {device}, "
        f"torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"freed memory kept by the allocator: {malloc_kept}, {args.repeats} timed rounds"
    )
    print(
        f"{'variant':12s} {'median step (s)':>16s} {'x LSTMCell loop':>16s} {'min step (s)':>13s} {'x (min)':>8s}"
        f" {'x (per round)':>14s} {'compile (s)':>12s}"
    )
    for r in rows:
        cells = []
        for key, width in (("median_s", 16), ("min_s", 13)):
            value = r[key]
            ratio = f"{value / base[key]:.2f}" if value is not None and base[key] else "-"
            shown = "-" if value is None else f"{value:.4f}"
            cells.append(f"{shown:>{width}s} {ratio:>{16 if key == 'median_s' else 8}s}")
        per_round = r["round_ratio_median"]
        cells.append(f"{'-' if per_round is None else f'{per_round:.2f}':>14s}")
        compile_s = r["compile_s"]
        cells.append(f"{'-' if compile_s is None else f'{compile_s:.1f}':>12s}")
        print(f"{r['label']:12s} " + " ".join(cells) + (f"  error: {r['error']}" if r["error"] else ""))
    for label in times:  # compiled against its eager twin, timed back to back in each round
        if label.endswith(":c") and times[label] and len(times[label]) == len(times[label[:-2]]):
            ratios = [c / e for c, e in zip(times[label], times[label[:-2]])]
            print(
                f"{label} / {label[:-2]} per round: median {statistics.median(ratios):.2f}, all "
                + " ".join(f"{r:.2f}" for r in ratios)
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
