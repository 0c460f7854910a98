"""Expansion of a sweep spec into points: one per configuration, no duplicates, nonsense skipped.

Per variant, the points are the Cartesian product of the axes that apply to it (a variant without a
memory-size parameter ignores the memory axis, so it adds no duplicate points), of the lists given
for its other parameters, of the tasks' parameters, and of the seeds. A combination the variant's
``skip`` rejects (top-k above the memory size) stays in the list with the reason, and is stored as
such without being run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
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

    @property
    def point_id(self) -> str:
        """Stable key of the configuration and the attnbench version (what --resume matches)."""
        key = {k: v for k, v in asdict(self).items() if k != "skip_reason"}
        key["attnbench_version"] = __version__
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.variant}-{self.task}-{digest[:16]}"

    @property
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
    for task_name in spec.tasks:
        task_cls = get_task(task_name)
        seq_param = axis_params(task_cls.params).get("seq_len")
        task_grid = dict(spec.task_params.get(task_name, {}))
        if seq_param and "seq_len" in spec.axes:
            task_grid[seq_param] = list(spec.axes["seq_len"])
        task_configs = [_resolve(task_cls, combo, task_name) for combo in _grid(task_grid)]
        for variant_name in spec.variants:
            variant_cls = get_variant(variant_name)
            grid = dict(spec.variant_params.get(variant_name, {}))
            for axis, param in axis_params(variant_cls.params).items():
                if axis in spec.axes and param not in grid:
                    grid[param] = list(spec.axes[axis])
            for combo, task_params, seed in itertools.product(_grid(grid), task_configs, spec.seeds):
                params = _resolve(variant_cls, combo, variant_name)
                task = task_cls(**task_params)
                point = Point(
                    variant=variant_name,
                    variant_params=tuple(sorted(params.items())),
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
                    skip_reason=variant_cls.skip(task.seq_len, **params),
                )
                points.setdefault(point.point_id, point)
    if not points:
        raise UsageError("the sweep is empty: no variant, task and axis values combine into a point")
    return list(points.values())


def _resolve(cls: Any, params: Mapping[str, Any], name: str) -> dict[str, Any]:
    try:
        return cls.resolve(params)
    except ParameterError as exc:
        raise UsageError(f"in the sweep's {name} parameters: {exc}") from None
