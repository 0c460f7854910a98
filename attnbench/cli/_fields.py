"""Command-line flags for the fields of :class:`~attnbench.config.Point` and :class:`~attnbench.config.Options`.

Each flag is made from the field's declaration (type, allowed values, help, default), so ``train``,
``measure`` and ``sweep`` offer the same settings under the same names and the same checks; a
command may give a field a default of its own (``train`` trains 1000 steps) or an old flag name as
an alias (``train --steps``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from attnbench.params import Param


def flag(name: str) -> str:
    """``train_steps`` -> ``--train-steps``."""
    return "--" + name.replace("_", "-")


def add_fields(
    group: argparse._ActionsContainer,
    fields: Mapping[str, Param],
    names: Iterable[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, str] | None = None,
    show_defaults: bool = True,
) -> None:
    """A flag per field in ``names``; unset flags stay None (the declaration's default applies)."""
    defaults, aliases = dict(defaults or {}), dict(aliases or {})
    for name in names:
        param = fields[name]
        default = defaults.get(name, param.default)
        text = param.help + (f" (default {default})" if show_defaults else "")
        flags = [aliases[name], flag(name)] if name in aliases else [flag(name)]
        if param.type is bool:
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif param.choices is not None:
            group.add_argument(*flags, dest=name, choices=param.choices, default=None, help=text)
        else:
            kind = param.type if param.none_means is None else str  # "none" where none is allowed
            group.add_argument(*flags, dest=name, type=kind, default=None, help=text)


def given(args: argparse.Namespace, names: Iterable[str], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values of the flags set on the command line, then ``defaults`` for those not set."""
    out = dict(defaults or {})
    out.update({n: getattr(args, n) for n in names if getattr(args, n, None) is not None})
    return out


__all__ = ["add_fields", "flag", "given"]
