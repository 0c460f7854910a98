"""Expansion of a sweep spec into points: one per configuration, no duplicates, nonsense skipped.

Per variant, the points are the Cartesian product of the axes that apply to it (a variant without a
memory-size parameter ignores the memory axis, so it adds no duplicate points), of the lists given
for its other parameters, of the tasks' parameters, and of the seeds. A combination the variant's
``skip`` rejects (top-k above the memory size) stays in the list with the reason, and is stored as
such without being run.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from attnbench import __version__
from attnbench.errors import UsageError
from attnbench.params import ParameterError, axis_params
from attnbench.sweep.spec import SweepSpec
from attnbench.tasks import get_task
from attnbench.variants import get_variant


@dataclass(frozen=True)
class Point:
    """One configuration to measure. ``variant_params``/``task_params`` are complete (defaults filled)."""

    variant: str
    variant_params: tuple[tuple[str, Any], ...]
    task: str
    task_params: tuple[tuple[str, Any], ...]
    batch: int
    hidden_size: int
    device: str
    dtype: str
    seed: int
    warmup: int
    repeats: int
    train_steps: int
    train_batch: int
    lr: float
    optimizer: str
    threads: int | None = None
    skip_reason: str | None = None

    @functools.cached_property
    def point_id(self) -> str:
        """Stable key of the configuration and the attnbench version (what --resume matches)."""
        # the fields hold only scalars and tuples of pairs: read them directly, not through asdict's deep copy
        key = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "skip_reason"}
        key["attnbench_version"] = __version__
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.variant}-{self.task}-{digest[:16]}"

    @functools.cached_property
    def label(self) -> str:
        """Deterministic display name: the variant and its non-default parameters, keys sorted."""
        defaults = {p.name: p.default for p in get_variant(self.variant).params}
        shown = [f"{k}={_fmt(v)}" for k, v in sorted(self.variant_params) if defaults.get(k, object()) != v]
        return f"{self.variant}[{','.join(shown)}]" if shown else self.variant

    def axis_value(self, axis: str) -> Any:
        """The value this point has on ``axis`` (None if its variant/task has no such parameter)."""
        if axis == "seq_len":
            name = axis_params(get_task(self.task).params).get("seq_len")
            return dict(self.task_params).get(name) if name else None
        name = axis_params(get_variant(self.variant).params).get(axis)
        return dict(self.variant_params).get(name) if name else None

    def to_json(self) -> str:
        """The point as JSON (what a worker process receives)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Point:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        for key in ("variant_params", "task_params"):
            data[key] = tuple((k, v) for k, v in data[key])
        return cls(**data)


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _choices(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _grid(fixed: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Cartesian product of a {name: value or list} table."""
    names = sorted(fixed)
    for combo in itertools.product(*(_choices(fixed[n]) for n in names)):
        yield dict(zip(names, combo))


def expand(spec: SweepSpec) -> list[Point]:
    """Every point of ``spec``, in a stable order, duplicates removed; unknown names are one-line errors."""
    for name in spec.variant_params:
        if name not in spec.variants:
            raise UsageError(
                f"variant_params names {name!r}, which is not among the sweep's variants: {', '.join(spec.variants)}"
            )
    for name in spec.task_params:
        if name not in spec.tasks:
            raise UsageError(
                f"task_params names {name!r}, which is not among the sweep's tasks: {', '.join(spec.tasks)}"
            )
    points: dict[str, Point] = {}
    # an axis value a variant's parameter does not take (rsm's memory cannot be none) is stored as skipped
    # for it, with the reason, as long as another variant of the sweep takes it; a value no variant takes
    # is the user's mistake
    axis_taken: dict[tuple[str, str], bool] = {}
    axis_error: dict[tuple[str, str], str] = {}
    for task_name in spec.tasks:
        task_cls = get_task(task_name)
        seq_param = axis_params(task_cls.params).get("seq_len")
        task_grid = dict(spec.task_params.get(task_name, {}))
        if seq_param and "seq_len" in spec.axes:
            task_grid[seq_param] = list(spec.axes["seq_len"])
        # each task configuration is built once, for its length (a task may load data when built)
        task_configs = [
            (tp, task_cls(**tp).seq_len) for tp in (_resolve(task_cls, c, task_name) for c in _grid(task_grid))
        ]
        for variant_name in spec.variants:
            variant_cls = get_variant(variant_name)
            grid = dict(spec.variant_params.get(variant_name, {}))
            from_axes: dict[str, str] = {}
            for axis, param in axis_params(variant_cls.params).items():
                if axis in spec.axes and param not in grid:
                    grid[param] = list(spec.axes[axis])
                    from_axes[param] = axis
            for combo in _grid(grid):
                params, rejected = _resolve_axes(variant_cls, combo, variant_name, from_axes)
                for key in ((from_axes[k], _fmt(v)) for k, v in combo.items() if k in from_axes):
                    axis_taken[key] = axis_taken.get(key, False) or rejected is None
                    if rejected is not None:
                        axis_error.setdefault(key, f"in the sweep's {variant_name} parameters: {rejected}")
                variant_params = tuple(sorted(params.items()))
                for task_params, seq_len in task_configs:
                    skip_reason = (
                        f"{rejected} (a value of the sweep's axes that {variant_name} does not take)"
                        if rejected is not None
                        else variant_cls.skip(seq_len, **params)
                    )
                    for seed in spec.seeds:
                        point = Point(
                            variant=variant_name,
                            variant_params=variant_params,
                            task=task_name,
                            task_params=tuple(sorted(task_params.items())),
                            batch=spec.batch,
                            hidden_size=spec.hidden_size,
                            device=spec.device,
                            dtype=spec.dtype,
                            seed=seed,
                            warmup=spec.warmup,
                            repeats=spec.repeats,
                            train_steps=spec.train_steps,
                            train_batch=spec.train_batch,
                            lr=spec.lr,
                            optimizer=spec.optimizer,
                            threads=spec.threads,
                            skip_reason=skip_reason,
                        )
                        points.setdefault(point.point_id, point)
    for key, taken in axis_taken.items():
        if not taken:
            raise UsageError(axis_error[key])
    if not points:
        raise UsageError("the sweep is empty: no variant, task and axis values combine into a point")
    return list(points.values())


def _resolve_axes(
    cls: Any, combo: Mapping[str, Any], name: str, from_axes: Mapping[str, str]
) -> tuple[dict[str, Any], str | None]:
    """``combo`` resolved, and None; or, where only values taken from the axes are refused, the combo as
    given (defaults filled in) and why it was refused."""
    try:
        return cls.resolve(combo), None
    except ParameterError as exc:
        if not any(k in from_axes for k in combo):
            raise UsageError(f"in the sweep's {name} parameters: {exc}") from None
        rest = _resolve(cls, {k: v for k, v in combo.items() if k not in from_axes}, name)
        return {**rest, **{k: v for k, v in combo.items() if k in from_axes}}, str(exc)


def _resolve(cls: Any, params: Mapping[str, Any], name: str) -> dict[str, Any]:
    try:
        return cls.resolve(params)
    except ParameterError as exc:
        raise UsageError(f"in the sweep's {name} parameters: {exc}") from None
