"""How long a large grid takes to expand and to dry-run (CPU seconds), for the sweep's planning step.

Run it on two checkouts in turn (alternating, on the same machine) and compare the ratios:

    python scripts/expand_speed.py --seeds 200 --lengths 50
"""

from __future__ import annotations

import argparse
import time

from attnbench.sweep import SweepSpec, expand
from attnbench.sweep.runner import dry_run_table


def main() -> None:
    """Expand lstm and sab over ``--lengths`` lengths and ``--seeds`` seeds; print the CPU time of each step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--lengths", type=int, default=50)
    args = parser.parse_args()
    spec = SweepSpec(
        variants=("lstm", "sab"),
        tasks=("copy",),
        axes={"seq_len": list(range(10, 10 + args.lengths))},
        seeds=tuple(range(args.seeds)),
    )
    started = time.process_time()
    points = expand(spec)
    expanded = time.process_time() - started
    started = time.process_time()
    dry_run_table(points)
    table = time.process_time() - started
    print(f"{len(points)} points: expand {expanded:.2f} s, dry-run table {table:.2f} s (CPU)")


if __name__ == "__main__":
    main()
