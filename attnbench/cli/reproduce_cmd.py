"""``attnbench reproduce``: the papers' copy-task result at laptop scale, beside the papers' figures.

A sweep of its own points (:mod:`attnbench.reproduce`): stored in a results folder (``--out``),
resumable (``--resume``), run by the sweep's executors (``--executor process|local|slurm``); the table
is printed from the stored rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from attnbench.cli.train_cmd import check_json_path
from attnbench.errors import UsageError


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """``"40,60"`` -> (40, 60); one-line :class:`UsageError` otherwise."""
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        values = ()
    if not values:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers, e.g. 40,60")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    from attnbench.cli._fields import add_fields
    from attnbench.cli.sweep_cmd import add_execution_arguments
    from attnbench.reproduce import DEFAULT_OUT, DEFAULT_RUNS, RUN_KEYS, TIMEOUT_S, ReproduceConfig
    from attnbench.sweep.spec import EXECUTION

    d = ReproduceConfig()
    p = sub.add_parser(
        "reproduce",
        help="the SAB paper's copy-task result at laptop scale, several seeds, beside the papers' figures",
        description="Train lstm (full BPTT at a short and a longer delay, truncated BPTT), dense and sab "
        "(rsm on request) on copy, five seeds each (a run's seeds trained together as one replicate group), "
        "evaluate transfer to longer delays, and print per delay the mean accuracy, its 95% interval and the "
        "seeds that reach 99%, beside the papers' figures. The defaults take under 20 minutes on 2 CPU cores.",
        epilog="A sweep: every (run, seed) is a point stored in --out, one row each (rerun with --resume to "
        "continue where it stopped), run by the sweep's executors (--executor slurm runs them on a cluster); "
        "the table is printed from the stored rows.",
    )
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help="results directory (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="skip the points already stored in --out")
    p.add_argument("--retry-failed", action="store_true", help="with --resume, run error and timeout points again")
    p.add_argument("--delay", type=int, default=d.delay, help="training delay T (default %(default)s)")
    p.add_argument(
        "--long-delay",
        type=int,
        default=d.long_delay,
        help="the longer training delay of run lstm_long (default %(default)s)",
    )
    p.add_argument(
        "--transfer",
        default=",".join(map(str, d.transfer)),
        help="comma-separated longer delays to evaluate at (default %(default)s)",
    )
    p.add_argument(
        "--runs",
        "--variants",
        dest="runs",
        default=",".join(DEFAULT_RUNS),
        help=f"comma-separated runs out of {', '.join(RUN_KEYS)} (default %(default)s)",
    )
    p.add_argument("--seeds", default=",".join(map(str, d.seeds)), help="comma-separated seeds (default %(default)s)")
    p.add_argument("--steps", type=int, help="steps of every run (default: each run's own budget)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch size (default %(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden_size, help="hidden size H (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    p.add_argument("--eval-batches", type=int, default=d.eval_batches, help="held-out batches (default %(default)s)")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="also write the table as JSON to PATH ('-': stdout); the per-seed rows are the points in --out",
    )
    m = p.add_argument_group("how the points run")
    m.add_argument(
        "--workers",
        type=int,
        help="points run side by side, one torch thread each (process executor; default min(2, CPUs))",
    )
    m.add_argument(
        "--timeout", dest="timeout_s", type=float, help=f"time limit per point, seconds (default {TIMEOUT_S:g})"
    )
    add_fields(m, EXECUTION, ("max_memory",))
    add_execution_arguments(p)
    p.set_defaults(func=run)


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` ("-": stdout) atomically: a temporary file renamed into place, so a failed
    write leaves the earlier file whole; a one-line error if it cannot be written."""
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    if path == "-":
        print(text, end="")
        return
    from attnbench.results import _atomic_write

    try:
        _atomic_write(Path(path), text)
    except OSError as exc:
        raise UsageError(f"--json {path}: cannot write: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Plan the reproduction's points, run those not stored, print the table of the stored rows (and its JSON)."""
    from attnbench.cli.sweep_cmd import check_executor, execute
    from attnbench.reproduce import (
        SCHEMA,
        SCHEMA_VERSION,
        TIMEOUT_S,
        ReproduceConfig,
        default_workers,
        execution,
        format_table,
        jobs,
        stored,
        summarize,
    )
    from attnbench.sweep import plan

    runs = tuple(r.strip() for r in args.runs.split(",") if r.strip())
    config = ReproduceConfig(
        delay=args.delay,
        long_delay=args.long_delay,
        transfer=parse_ints(args.transfer, "--transfer"),
        steps=args.steps,
        batch=args.batch,
        hidden_size=args.hidden,
        lr=args.lr,
        eval_batches=args.eval_batches,
        seeds=parse_ints(args.seeds, "--seeds"),
        runs=runs,
    )
    check_executor(args)
    if args.workers is not None and args.workers > 1 and args.executor != "process":
        raise UsageError(
            f"--workers {args.workers} only applies to the process executor (this one is {args.executor!r})"
        )
    workers = args.workers if args.workers is not None else default_workers() if args.executor == "process" else 1
    timeout_s = TIMEOUT_S if args.timeout_s is None else args.timeout_s
    spec = execution(workers, timeout_s, args.max_memory)
    check_json_path(args.json)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a directory")
    the_plan = plan(spec, out, resume=args.resume, retry_failed=args.retry_failed, jobs=jobs(config))
    start = time.perf_counter()
    frame = execute(args, spec, out, the_plan)
    wall = time.perf_counter() - start
    rows = stored(config, out)
    expected = len(the_plan.points)
    print()
    print(format_table(rows, config))
    measured = 0 if frame is None or frame.empty else len(frame)
    inside = 0.0 if frame is None or frame.empty else float(frame["wall_time_s"].fillna(0).sum())
    print(
        f"\nThis run measured {measured} of the {expected} point(s) ({len(the_plan.done)} were stored already) in "
        f"{wall / 60:.1f} min, {spec.workers} at a time with --executor {args.executor}, one torch thread each; "
        f"{inside / 60:.1f} min of points in all. Rows: {out}."
    )
    if args.json:
        write_json(
            args.json,
            {
                "format": SCHEMA,
                "version": SCHEMA_VERSION,
                "complete": len(rows) == expected,
                "results": str(out),
                "config": config.to_dict(),
                "points": {"expected": expected, "stored": len(rows)},
                "table": summarize(rows, config),
            },
        )
    return 130 if frame is None else 0
