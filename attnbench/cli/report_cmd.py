"""``attnbench report PATH... -o reports/NAME``: Pareto fronts, scaling and gradient reach from stored results.

Each PATH is an attnbench results directory (``manifest.json`` + ``points/``) or an asv results folder
(``<machine>/machine.json`` + result files); all of them become one table. The report never measures.
"""

from __future__ import annotations

import argparse
import shlex


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="write an HTML/Markdown report (Pareto fronts, scaling, gradient reach) from stored results",
        description=__doc__.splitlines()[0].replace("``", "'"),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="results directory or asv results folder")
    p.add_argument(
        "-o", "--out", required=True, metavar="DIR", help="folder to write index.html, summary.md and figures/ into"
    )
    p.add_argument("--title", default=None, help="title of the report (default: 'attnbench report')")
    p.add_argument(
        "--commit",
        default=None,
        metavar="HASH",
        help="asv results: the commit to read, a hash or a prefix of one (default: on each machine the newest "
        "commit on the branch asv.conf.json configures; the report says which it read)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it is."""
    from attnbench.report import build_report

    command = shlex.join(["attnbench", "report", *args.paths, "-o", args.out])
    if args.title:
        command += " --title " + shlex.quote(args.title)
    if args.commit:
        command += " --commit " + shlex.quote(args.commit)
    index = build_report(args.paths, args.out, title=args.title, command=command, commit=args.commit)
    print(f"wrote {index} (and summary.md, figures/ beside it)")
    return 0
