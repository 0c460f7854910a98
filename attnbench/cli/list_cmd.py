"""``attnbench list``: every variant and task with its parameters, defaults and sweep axes."""

from __future__ import annotations

import argparse

from attnbench.params import AXIS_HELP, Param


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``list`` subcommand."""
    p = sub.add_parser("list", help="list variants and tasks with their parameters")
    p.add_argument("what", nargs="?", choices=("variants", "tasks", "all"), default="all")
    p.set_defaults(func=run)


def _param_line(p: Param) -> str:
    axis = f"  [sweep axis: {AXIS_HELP[p.axis]}]" if p.axis else ""
    default = "none" if p.default is None else repr(p.default)
    return f"    {p.name:<12} default {default:<8} {p.allowed()}{axis}\n      {p.help}".rstrip()


def _section(title: str, registry, describe) -> list[str]:  # noqa: ANN001
    lines = [f"{title}:"]
    for name in registry.names():
        cls = registry.get(name)
        origin = registry.origin(name)
        where = "" if origin == "attnbench" else f"  (from {origin})"
        lines.append(f"  {name}{where}: {describe(cls)}")
        params = cls.params
        if not params:
            lines.append("    (no parameters)")
        lines.extend(_param_line(p) for p in params)
    for err in registry.plugin_errors:
        lines.append(f"  ! plugin failed: {err}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the registries."""
    from attnbench.variants import VARIANTS
    from attnbench.variants.base import HIDDEN

    lines: list[str] = []
    if args.what in ("variants", "all"):
        lines += _section("variants", VARIANTS, lambda c: c.description)
        lines.append(f"  every variant also takes{_param_line(HIDDEN)[3:]}")
    if args.what in ("tasks", "all"):
        from attnbench.tasks import TASKS

        if lines:
            lines.append("")
        lines += _section("tasks", TASKS, lambda c: c.description)
    print("\n".join(lines))
    return 0
