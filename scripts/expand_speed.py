"""How long a large grid takes to plan and to dry-run (CPU seconds and peak memory), for the sweep's planning.

Run it on two checkouts in turn (alternating, on the same machine) and compare the ratios:

    python scripts/expand_speed.py --seeds 1000 --lengths 1000     # a million points

For the whole command, wall time and peak RSS included: ``/usr/bin/time -v attnbench sweep SPEC --dry-run``.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time

from attnbench.sweep import SweepSpec, expand
from attnbench.sweep.runner import Plan, dry_run_table, totals


def main() -> None:
    """Expand lstm over ``--lengths`` lengths and ``--seeds`` seeds; print the CPU time of each step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--lengths", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=200, help="rows of the dry run's table")
    args = parser.parse_args()
    spec = SweepSpec(
        variants=("lstm",),
        tasks=("copy",),
        axes={"seq_len": tuple(range(10, 10 + args.lengths))},
        seeds=tuple(range(args.seeds)),
    )
    started = time.process_time()
    points = expand(spec)
    expanded = time.process_time() - started
    started = time.process_time()
    dry_run_table(itertools.islice(points, args.rows))
    table = time.process_time() - started
    started = time.process_time()
    totals(Plan(points))
    summed = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(points):,} points: expand {expanded:.2f} s, first {args.rows} rows {table:.2f} s, "
        f"totals {summed:.2f} s (CPU); peak RSS {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
