"""The ``attnbench`` command line: one module per subcommand, each with ``register(subparsers)``.

A user's mistake (an unknown name, a value out of range, a missing file) ends in one line on stderr,
``attnbench: error: ...``, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from attnbench import __version__
from attnbench.errors import USER_ERRORS, PluginFault, UsageError

# subcommand modules under attnbench.cli, in the order `attnbench --help` lists them
COMMANDS = ("list_cmd", "train_cmd", "reproduce_cmd", "measure_cmd", "sweep_cmd", "report_cmd")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = _Parser(
        prog="attnbench",
        description="What does attention over the past cost a recurrent network, and what does it buy?",
    )
    parser.add_argument("--version", action="version", version=f"attnbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"attnbench.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attnbench`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"attnbench: error: {exc}", file=sys.stderr)
        return 2
    except PluginFault as exc:  # a plugin's own bug, named with its package: one line, not a traceback
        print(f"attnbench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("attnbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
