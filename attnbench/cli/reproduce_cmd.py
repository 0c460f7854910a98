"""``attnbench reproduce``: the papers' copy-task result at laptop scale, beside the papers' figures."""

from __future__ import annotations

import argparse
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
    from attnbench.reproduce import RUN_KEYS, ReproduceConfig

    d = ReproduceConfig()
    p = sub.add_parser(
        "reproduce",
        help="the SAB/RSM copy-task result at laptop scale, beside the papers' figures",
        description="Train lstm (full and truncated BPTT), dense, sab and rsm on copy at a delay truncated BPTT "
        "cannot bridge, evaluate transfer to longer delays, and print our accuracies beside the papers'. "
        "The defaults take under 20 minutes on 2 CPU cores.",
    )
    p.add_argument("--delay", type=int, default=d.delay, help="training delay T (default %(default)s)")
    p.add_argument(
        "--transfer",
        default=",".join(map(str, d.transfer)),
        help="comma-separated longer delays to evaluate at (default %(default)s)",
    )
    p.add_argument(
        "--variants",
        default=",".join(RUN_KEYS),
        help="comma-separated runs out of %(default)s",
    )
    p.add_argument("--steps", type=int, help="steps of every run (default: each run's own budget)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch size (default %(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden_size, help="hidden size H (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    p.add_argument("--eval-batches", type=int, default=d.eval_batches, help="held-out batches (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of data and initialisation (default %(default)s)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default %(default)s: these small models gain little from more, "
        "and on a shared machine extra threads mostly contend)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-': stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the reproduction, print the table, write JSON if asked."""
    import torch

    from attnbench.reproduce import ReproduceConfig, format_table, reproduce

    runs = tuple(r.strip() for r in args.variants.split(",") if r.strip())
    config = ReproduceConfig(
        delay=args.delay,
        transfer=parse_ints(args.transfer, "--transfer"),
        steps=args.steps,
        batch=args.batch,
        hidden_size=args.hidden,
        lr=args.lr,
        eval_batches=args.eval_batches,
        seed=args.seed,
        runs=runs,
        progress=not args.no_progress,
    )
    if args.threads < 1:
        raise UsageError(f"--threads {args.threads}: expected an integer >= 1")
    check_json_path(args.json)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        results = reproduce(config)
    finally:
        torch.set_num_threads(threads)
    wall = time.perf_counter() - start
    print()
    print(format_table(results, config))
    print(f"\nWall time {wall / 60:.1f} min ({args.threads} thread{'s' if args.threads > 1 else ''}).")
    if args.json:
        payload = {
            "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
            "threads": args.threads,
            "wall_time_s": wall,
            "runs": [r.to_dict() for r in results],
        }
        write_json(args.json, payload)
    return 0
