"""Expansion of a sweep spec into jobs: one (point, options) pair per configuration, no duplicates.

Per variant, the points are the Cartesian product of the axes that apply to it (a variant without a
memory-size parameter ignores the memory axis, so it adds no duplicate points), of the lists given
for its other parameters, of the tasks' parameters, of the seeds and of the learning rates (``lrs``). A
combination the variant's ``skip`` rejects (top-k above the memory size) stays in the list with the
reason, and is stored as such without being run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from attnbench.config import Job, Point
from attnbench.errors import UsageError
from attnbench.params import ParameterError, axis_params
from attnbench.sweep.spec import SweepSpec
from attnbench.tasks import get_task
from attnbench.variants import get_variant


def _choices(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _grid(fixed: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Cartesian product of a {name: value or list} table."""
    names = sorted(fixed)
    for combo in itertools.product(*(_choices(fixed[n]) for n in names)):
        yield dict(zip(names, combo))


def axis_grid(cls: Any, axes: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``fixed`` plus, for each axis that ``cls`` (a variant or task class) has a parameter for, that
    parameter set to the axis's values (a parameter fixed explicitly wins over the axis)."""
    grid = dict(fixed or {})
    for axis, param in axis_params(cls.params).items():
        if axis in axes and param not in grid:
            grid[param] = axes[axis]
    return grid


def expand(spec: SweepSpec) -> list[Job]:
    """Every job of ``spec``, in a stable order, duplicates removed; unknown names are one-line errors."""
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
    axes = {axis: list(values) for axis, values in spec.axes.items()}
    jobs: dict[str, Job] = {}
    for task_name in spec.tasks:
        task_grid = axis_grid(get_task(task_name), axes, spec.task_params.get(task_name, {}))
        for variant_name in spec.variants:
            grid = axis_grid(get_variant(variant_name), axes, spec.variant_params.get(variant_name, {}))
            for combo, task_params, seed in itertools.product(_grid(grid), list(_grid(task_grid)), spec.seeds):
                try:
                    point = Point(variant_name, task_name, tuple(combo.items()), tuple(task_params.items()),
                                  seed=seed, **spec.settings)  # fmt: skip
                except ParameterError as exc:
                    raise UsageError(f"in the sweep's {variant_name} or {task_name} parameters: {exc}") from None
                for lr in spec.lrs or (spec.options.lr,):
                    job = Job(point, spec.options.replace(lr=lr))
                    jobs.setdefault(job.point_id, job)
    if not jobs:
        raise UsageError("the sweep is empty: no variant, task and axis values combine into a point")
    return list(jobs.values())
