"""Declared hyperparameters: defaults, allowed ranges and the sweep axis each one answers to.

Variants and tasks declare their parameters as a tuple of :class:`Param`. The registry, the CLI,
the sweep expander and the plugin docs all read these declarations, so a parameter is described
once, here, and validated the same way everywhere.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Axis = Literal["seq_len", "memory", "top_k", "pairs"]
AXES: tuple[Axis, ...] = ("seq_len", "memory", "top_k", "pairs")
AXIS_HELP = {
    "seq_len": "sequence length",
    "memory": "memory size",
    "top_k": "top-k",
    "pairs": "key-value pairs to remember (associative recall)",
}


class ParameterError(ValueError):
    """A user's mistake: a value outside what its declaration allows, an unknown setting, a bad file.

    The one error type of attnbench's validation (``attnbench.errors.UsageError`` is the same class):
    its message is one line that names the bad value and what is allowed, and the CLI turns it into
    ``attnbench: error: ...`` and exit code 2.
    """


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a variant or task.

    ``low``/``high`` are inclusive bounds; ``none_means`` documents what ``None`` stands for when
    ``None`` is allowed (for example ``"unbounded"``).
    """

    name: str
    default: Any
    type: type = int
    low: float | None = None
    high: float | None = None
    axis: Axis | None = None  # the sweep axis this parameter answers to, if any
    help: str = ""
    none_means: str | None = None  # None is allowed and means this
    choices: tuple[Any, ...] | None = None
    above: float | None = None  # exclusive lower bound (a learning rate > 0)

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.type is bool:
            text = "true or false"
        else:
            kind = {int: "an integer", float: "a number", str: "a string"}.get(self.type, self.type.__name__)
            if self.above is not None and self.high is not None:
                text = f"{kind} in ({_fmt(self.above)}, {_fmt(self.high)}]"
            elif self.above is not None:
                text = f"{kind} > {_fmt(self.above)}"
            elif self.low is not None and self.high is not None:
                text = f"{kind} in [{_fmt(self.low)}, {_fmt(self.high)}]"
            elif self.low is not None:
                text = f"{kind} >= {_fmt(self.low)}"
            elif self.high is not None:
                text = f"{kind} <= {_fmt(self.high)}"
            else:
                text = kind
        if self.none_means is not None:
            text += f", or none ({self.none_means})"
        return text

    def validate(self, value: Any, owner: str = "") -> Any:
        """Return ``value`` coerced to the declared type, or raise :class:`ParameterError`."""
        where = f"{owner}: " if owner else ""
        bad = f"{where}{self.name}={value!r} is not allowed; expected {self.allowed()}"
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and self.type is not str):
            if self.none_means is None:
                raise ParameterError(bad)
            return None
        value = _coerce(value, self.type, bad)
        if self.choices is not None and value not in self.choices:
            raise ParameterError(bad)
        if self.type in (int, float):
            if isinstance(value, float) and (math.isnan(value) or (self.above is not None and math.isinf(value))):
                raise ParameterError(bad)
            if self.above is not None and value <= self.above:
                raise ParameterError(bad)
            if self.low is not None and value < self.low:
                raise ParameterError(bad)
            if self.high is not None and value > self.high:
                raise ParameterError(bad)
        return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _coerce(value: Any, kind: type, bad: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ParameterError(bad)
    if kind is int:
        if isinstance(value, bool):
            raise ParameterError(bad)
        if isinstance(value, numbers.Integral):  # numpy integers too
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ParameterError(bad) from None
        raise ParameterError(bad)
    if kind is float:
        if isinstance(value, bool):
            raise ParameterError(bad)
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ParameterError(bad) from None
        raise ParameterError(bad)
    if kind is str:
        if isinstance(value, str):
            return value
        raise ParameterError(bad)
    return value


def resolve_params(declared: Iterable[Param], given: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Validate ``given`` against ``declared``; fill defaults; reject unknown names."""
    declared = tuple(declared)
    by_name = {p.name: p for p in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ParameterError(f"{owner}: unknown parameter {unknown[0]!r}; known parameters: {known}")
    return {p.name: p.validate(given.get(p.name, p.default), owner) for p in declared}


def axis_params(declared: Iterable[Param]) -> dict[Axis, str]:
    """Map each sweep axis to the name of the parameter that answers to it."""
    return {p.axis: p.name for p in declared if p.axis is not None}
