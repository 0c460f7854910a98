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


def _shown(value: Any) -> str:
    """An axis value as the user wrote it (None and 'none' are one value)."""
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


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


def overridden_axes(spec: SweepSpec) -> list[str]:
    """One line per sweep axis that a fixed variant or task parameter overrides (the fixed value wins).

    ``seq_len = [50, 100]`` with ``task_params.copy.seq_len = 20`` measures copy at 20 only: not an
    error (a command-line ``--task-param`` may override a spec file's axis on purpose), but worth a word.
    """
    notes = []
    for kind, names, fixed, lookup in (
        ("task", spec.tasks, spec.task_params, get_task),
        ("variant", spec.variants, spec.variant_params, get_variant),
    ):
        for name in names:
            for axis, param in axis_params(lookup(name).params).items():
                if axis in spec.axes and param in fixed.get(name, {}):
                    values = ", ".join(str(v) for v in spec.axes[axis])
                    notes.append(
                        f"{kind} parameter {name}.{param}={fixed[name][param]!r} overrides the {axis} axis "
                        f"({values}) for {name}; give one of them"
                    )
    return notes


def expand(spec: SweepSpec) -> list[Job]:
    """Every job of ``spec``, in a stable order, duplicates removed; unknown names are one-line errors.

    An axis value a variant's parameter does not take (rsm's memory cannot be none) becomes, for that
    variant, a point stored as skipped with the reason, as long as another variant of the sweep takes
    it; a value no variant takes is the user's mistake.
    """
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
    axis_taken: dict[tuple[str, str], bool] = {}  # (axis, value): whether some variant takes it
    axis_error: dict[tuple[str, str], str] = {}
    for task_name in spec.tasks:
        task_grid = axis_grid(get_task(task_name), axes, spec.task_params.get(task_name, {}))
        task_configs = list(_grid(task_grid))
        for variant_name in spec.variants:
            variant_cls = get_variant(variant_name)
            fixed = spec.variant_params.get(variant_name, {})
            grid = axis_grid(variant_cls, axes, fixed)
            from_axes = {p: a for a, p in axis_params(variant_cls.params).items() if a in axes and p not in fixed}
            for combo in _grid(grid):
                params, rejected = _resolve_axes(variant_cls, combo, variant_name, from_axes)
                for key in ((from_axes[k], _shown(v)) for k, v in combo.items() if k in from_axes):
                    axis_taken[key] = axis_taken.get(key, False) or rejected is None
                    if rejected is not None:
                        axis_error.setdefault(key, f"in the sweep's {variant_name} parameters: {rejected}")
                if rejected is not None:
                    rejected = f"{rejected} (a value of the sweep's axes that {variant_name} does not take)"
                for task_params, seed in itertools.product(task_configs, spec.seeds):
                    try:
                        point = Point(variant_name, task_name, tuple(params.items()), tuple(task_params.items()),
                                      seed=seed, rejected=rejected, **spec.settings)  # fmt: skip
                    except ParameterError as exc:
                        raise UsageError(f"in the sweep's {variant_name} or {task_name} parameters: {exc}") from None
                    for lr in spec.lrs or (spec.options.lr,):
                        job = Job(point, spec.options.replace(lr=lr))
                        jobs.setdefault(job.point_id, job)
    for key, taken in axis_taken.items():
        if not taken:
            raise UsageError(axis_error[key])
    if not jobs:
        raise UsageError("the sweep is empty: no variant, task and axis values combine into a point")
    return list(jobs.values())


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
