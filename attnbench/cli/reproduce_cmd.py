"""``attnbench reproduce``: the papers' copy-task result at laptop scale, beside the papers' figures."""

from __future__ import annotations

import argparse
import sys
import time

from attnbench.cli.train_cmd import check_json_path, write_json
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
    from attnbench.reproduce import DEFAULT_RUNS, RUN_KEYS, ReproduceConfig, default_workers

    d = ReproduceConfig()
    p = sub.add_parser(
        "reproduce",
        help="the SAB paper's copy-task result at laptop scale, several seeds, beside the papers' figures",
        description="Train lstm (full BPTT at a short and a longer delay, truncated BPTT), dense and sab "
        "(rsm on request) on copy, three seeds each in parallel worker processes, evaluate transfer to "
        "longer delays, and print per delay the mean accuracy, its 95% interval and the seeds that reach "
        "99%, beside the papers' figures. The defaults take under 20 minutes on 2 CPU cores.",
    )
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
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes, one torch thread each (default %(default)s: min(2, CPUs); 0: in this process)",
    )
    p.add_argument("--no-progress", action="store_true", help="no line per finished job")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="write the per-seed results and the table as JSON to PATH ('-': stdout); rewritten after every job",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the reproduction, print the table, write JSON if asked (after every job, and on Ctrl-C)."""
    from attnbench.reproduce import SCHEMA, SCHEMA_VERSION, ReproduceConfig, format_table, reproduce, summarize

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
        workers=args.workers,
    )
    check_json_path(args.json)
    start = time.perf_counter()
    records: list[dict] = []

    def payload(complete: bool) -> dict:
        return {
            "format": SCHEMA,
            "version": SCHEMA_VERSION,
            "complete": complete,
            "config": config.to_dict(),
            "wall_time_s": time.perf_counter() - start,
            "cpu_time_s": sum(r.get("cpu_time_s", 0.0) for r in records),
            "jobs": records,
            "table": summarize(records, config),
        }

    def save(so_far: list[dict]) -> None:
        records[:] = so_far
        if args.json and args.json != "-":
            write_json(args.json, payload(complete=False))

    log = (lambda line: None) if args.no_progress else (lambda line: print(line, flush=True))
    try:
        records[:] = reproduce(config, log=log, on_record=save)
    except KeyboardInterrupt:
        if records:
            print(format_table(records, config))
        if args.json and args.json != "-" and records:
            print(f"attnbench: {len(records)} finished jobs kept in {args.json}", file=sys.stderr)
        raise
    wall = time.perf_counter() - start
    cpu = sum(r.get("cpu_time_s", 0.0) for r in records)
    print()
    print(format_table(records, config))
    print(f"\nWall time {wall / 60:.1f} min with {config.workers} worker process(es), one torch thread each; "
          f"{cpu / 60:.1f} CPU-minutes in the jobs.")  # fmt: skip
    if args.json:
        write_json(args.json, payload(complete=True))
    return 0
