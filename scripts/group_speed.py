"""Training throughput of replicate groups: replicate-steps per second, each variant at several group sizes.

A training step of a group of G = forward of the G replicates, each replicate's task loss, backward, the
per-replicate gradient clip and the grouped Adam update (attnbench.groups), on copy-task batches; a
replicate-step is one replicate's share of it, so G replicates at the cost of one step give G times the
throughput of G = 1. Rounds are interleaved: round r times every (size, variant, G) once, in an order that
alternates from round to round; the table gives the median over rounds and the ratio to G = 1.

    python scripts/group_speed.py                                   # both sizes, G = 1, 3, 9, 27
    python scripts/group_speed.py --sizes quick --groups 1,9 --rounds 5
    python scripts/group_speed.py --device cuda --groups 1,8,64 --cuda-graph   # GPU, with and without graphs

Sizes: ``quick`` is the quick preset's (hidden 32, batch 16, copy delay 60: T = 80); ``large`` hidden 128,
batch 32, T = 200 (copy delay 180). Variants that do not implement group_forward run the reference loop
(one replicate after another inside the step), labelled ``loop``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys

import torch

from attnbench.groups import timed_group_step
from attnbench.tasks import build_task

SIZES = {"quick": (32, 16, 60), "large": (128, 32, 180), "toy": (4, 2, 3)}  # hidden, batch, copy delay
PARAMS = {
    "lstm": {"k_trunc": None},
    "dense": {},
    "sab": {"k_att": 2, "k_trunc": 5, "k_top": 2, "max_mem": 4},
    "rsm": {"rho": 4},
}


def make_step(variant: str, size: str, g: int, device: torch.device, graph: bool = False):
    """One training step of a group of ``g`` at ``size`` (a callable giving its seconds), and whether grouped."""
    hidden, batch, delay = SIZES[size]
    task = build_task("copy", seq_len=delay)
    return timed_group_step(variant, task, hidden, batch, g, device, graph=graph, **PARAMS[variant])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="lstm,dense,sab,rsm")
    p.add_argument("--groups", default="1,3,9,27", help="comma-separated group sizes G (1 is the baseline)")
    p.add_argument("--sizes", default="quick,large", help="comma-separated: quick, large")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="timed steps per (variant, G) and round (their median)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cuda-graph", action="store_true", help="also time each step captured as a CUDA graph")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.cuda_graph and device.type != "cuda":
        print(f"group_speed: --cuda-graph needs a CUDA device (this run is on {device})", file=sys.stderr)
        return 2
    if device.type == "cuda" and not torch.cuda.is_available():
        print("group_speed: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    groups = [int(v) for v in args.groups.split(",")]
    sizes = args.sizes.split(",")
    for name in sizes:
        if name not in SIZES:
            print(f"group_speed: size {name!r} is not allowed; expected {', '.join(SIZES)}", file=sys.stderr)
            return 2
    modes = [False, True] if args.cuda_graph else [False]
    keys = [(s, v, g, m) for s in sizes for v in variants for g in groups for m in modes]
    steps, grouped = {}, {}
    for key in keys:  # built and warmed up once (first calls allocate)
        steps[key], grouped[key] = make_step(key[1], key[0], key[2], device, key[3])
        steps[key]()
        steps[key]()
    times: dict = {key: [] for key in keys}
    for r in range(args.rounds):
        order = keys if r % 2 == 0 else keys[::-1]
        for key in order:
            times[key].append(statistics.median(steps[key]() for _ in range(args.steps)))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    rows = []
    for key in keys:
        size, variant, g, graph = key
        median = statistics.median(times[key])
        base = statistics.median(times[(size, variant, groups[0], graph)])
        rows.append(
            {
                "size": size,
                "variant": variant,
                "G": g,
                "cuda_graph": graph,
                "path": "grouped" if grouped[key] or g == 1 else "loop",
                "step_s": median,
                "replicate_steps_per_s": g / median,
                "step_x_G1": median / base,
                "throughput_x_G1": (g / median) / (groups[0] / base),
            }
        )
    print(f"{'size':6} {'variant':7} {'G':>4} {'graph':5} {'path':7} {'step ms':>9} {'rep-steps/s':>11} "
          f"{'step x G1':>9} {'thru x G1':>9}")  # fmt: skip
    for row in rows:
        print(
            f"{row['size']:6} {row['variant']:7} {row['G']:>4} {'yes' if row['cuda_graph'] else 'no':5} "
            f"{row['path']:7} {row['step_s'] * 1e3:9.2f} {row['replicate_steps_per_s']:11.1f} "
            f"{row['step_x_G1']:9.2f} {row['throughput_x_G1']:9.2f}"
        )
    if args.json:
        info = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}
        info["platform"] = platform.platform()
        with open(args.json, "w") as fh:
            json.dump({"environment": info, "rounds": args.rounds, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
