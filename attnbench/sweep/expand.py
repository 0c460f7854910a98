"""Expansion of a sweep spec into jobs: one (point, options) pair per configuration, no duplicates.

Per variant, the points are the Cartesian product of the axes that apply to it (a variant without a
memory-size parameter ignores the memory axis, so it adds no duplicate points), of the lists given
for its other parameters, of the tasks' parameters, of the seeds and of the learning rates (``lrs``). A
combination the variant's ``skip`` rejects (top-k above the memory size) stays in the list with the
reason, and is stored as such without being run.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnbench.config import POINT_FIELDS, Job, Options, Point, check_target
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
    """One line per sweep axis that a fixed variant or task parameter overrides (the fixed value wins),
    each starting ``warning:`` or ``note:``.

    ``seq_len = [50, 100]`` with ``task_params.copy.seq_len = 20`` measures copy at 20 only: not an
    error (a command-line ``--task-param`` may override a spec file's axis on purpose), but worth a word:
    a warning where the axis then applies to none of the spec's tasks (or variants), a note where it still
    applies to others (the quick preset sweeps copy's delay and fixes adding's length).
    """
    notes = []
    for kind, names, fixed, lookup in (
        ("task", spec.tasks, spec.task_params, get_task),
        ("variant", spec.variants, spec.variant_params, get_variant),
    ):
        for axis in spec.axes:
            taking = {n: axis_params(lookup(n).params).get(axis) for n in names}
            taking = {n: p for n, p in taking.items() if p is not None}
            over = [n for n, p in taking.items() if p in fixed.get(n, {})]
            values = ", ".join(str(v) for v in spec.axes[axis])
            for name in over:
                param = taking[name]
                what = f"{kind} parameter {name}.{param}={fixed[name][param]!r}"
                if len(over) == len(taking):
                    notes.append(f"warning: {what} overrides the {axis} axis ({values}) for {name}; give one of them")
                else:
                    notes.append(f"note: {what} is fixed, so the {axis} axis ({values}) applies to the other {kind}s")
    return notes


def swept_lrs(spec: SweepSpec) -> tuple[float, ...]:
    """The learning rates the sweep's points are measured at: its ``lrs``, else the options' ``lr``; the
    options' ``lr`` alone where nothing is trained (``train_steps = 0``), since no figure of a cost-only
    point depends on it (see :func:`collapsed_lrs`)."""
    if not spec.lrs or spec.options.train_steps == 0:
        return (spec.options.lr,)
    return tuple(spec.lrs)


def collapsed_lrs(spec: SweepSpec) -> str | None:
    """The line saying the ``lrs`` axis collapsed to one point because nothing is trained, or None."""
    if spec.options.train_steps != 0 or not spec.lrs or set(spec.lrs) == {spec.options.lr}:
        return None
    lrs = ", ".join(f"{lr:g}" for lr in dict.fromkeys(spec.lrs))
    return (
        f"train_steps=0 trains nothing, so the learning rates ({lrs}) change no figure: each point is "
        f"measured once, at lr={spec.options.lr:g} (give train_steps > 0 to sweep them)"
    )


Params = tuple[tuple[str, Any], ...]  # sorted (name, value) pairs, as a Point stores them


def _key(params: Params) -> str:
    """What a point's id hashes of ``params`` (two tuples with one key are one point: 3 and 3.0 are not)."""
    return json.dumps([list(kv) for kv in params], default=str)


def _row_key(params: Mapping[str, Any]) -> str:
    """``params`` as a stored row's ``variant_params`` / ``task_params`` column writes them."""
    return json.dumps(dict(params), sort_keys=True, default=str)


def _unique(items: Iterable[Any], key: Any = _key) -> list[Any]:
    """``items`` without repeats (by ``key``), first occurrences in order."""
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


@dataclass(frozen=True)
class Block:
    """The jobs of one task and one variant: its configurations, each crossed with the task's."""

    task: str
    variant: str
    combos: tuple[tuple[Params, str | None], ...]  # variant parameters, and why they are rejected (or None)
    task_configs: tuple[Params, ...]  # task parameters, resolved


class Jobs(Sequence[Job]):
    """Every job of a sweep, in a stable order, without duplicates: a lazy sequence.

    The grid is held as its factors (per task and variant the variant's configurations and the task's,
    then the seeds and the learning rates), each checked and freed of repeats once; a job is built when
    it is asked for. ``len()``, indexing and ``in`` cost no enumeration, so a grid of millions of points
    is planned in the time its factors take.
    """

    def __init__(
        self, blocks: Sequence[Block], seeds: Sequence[int], options: Sequence[Options], settings: Mapping[str, Any]
    ) -> None:
        self.blocks = tuple(blocks)
        self.seeds = tuple(seeds)
        self.options = tuple(options)
        self.settings = dict(settings)
        self._inner = len(self.seeds) * len(self.options)  # jobs per (variant configuration, task configuration)
        self._starts = list(
            itertools.accumulate((len(b.combos) * len(b.task_configs) * self._inner for b in self.blocks), initial=0)
        )
        self._where: _Where | None = None

    def __len__(self) -> int:
        return self._starts[-1]

    def __repr__(self) -> str:
        return f"<Jobs: {len(self):,} job(s) in {len(self.blocks)} block(s)>"

    def __iter__(self) -> Iterator[Job]:
        return self.iter()

    def iter(self, skip: Container[int] = ()) -> Iterator[Job]:
        """The jobs in order, leaving out those whose index is in ``skip`` (unbuilt)."""
        index = 0
        for block in self.blocks:
            for params, rejected in block.combos:
                for task_params in block.task_configs:
                    for seed in self.seeds:
                        point = None
                        for options in self.options:
                            if index not in skip:
                                if point is None:
                                    point = self._point(block, params, rejected, task_params, seed)
                                yield Job(point, options)
                            index += 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        n = len(self)
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"job indices are integers or slices, not {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"job index {index} out of range for {n} job(s)")
        index %= n
        b = bisect.bisect_right(self._starts, index) - 1
        block = self.blocks[b]
        combo, rest = divmod(index - self._starts[b], len(block.task_configs) * self._inner)
        config, rest = divmod(rest, self._inner)
        seed, lr = divmod(rest, len(self.options))
        params, rejected = block.combos[combo]
        point = self._point(block, params, rejected, block.task_configs[config], self.seeds[seed])
        return Job(point, self.options[lr])

    def __contains__(self, job: object) -> bool:
        return isinstance(job, Job) and self.find(job) is not None

    def find(self, job: Job) -> int | None:
        """The index of ``job`` (a job equal in id), or None."""
        point = job.point
        return self.locate(
            job.point_id, point.variant, point.task, point.params, dict(point.task_params), point.seed, job.options.lr
        )

    def locate(
        self,
        point_id: str,
        variant: Any,
        task: Any,
        variant_params: Mapping[str, Any],
        task_params: Mapping[str, Any],
        seed: Any,
        lr: Any,
    ) -> int | None:
        """The index of the job whose id is ``point_id``, found from its configuration (as a stored row
        gives it: see :func:`attnbench.config.config_columns`), or None where no job of these has that id.

        Costs a few look-ups and one id, whatever the grid's size: how ``--resume`` counts the points done.
        """
        if self._where is None:
            self._where = _Where(self)
        where = self._where
        try:
            b = where.blocks.get((str(task), str(variant)))
            if b is None:
                return None
            parts = (
                where.combos[b].get(_row_key(variant_params)),
                where.configs[b].get(_row_key(task_params)),
                where.seeds.get(repr(seed)),
                where.lrs.get(repr(float(lr))),
            )
        except (TypeError, ValueError, AttributeError):  # a damaged row: not one of these jobs
            return None
        if None in parts:
            return None
        combo, config, seed_i, lr_i = parts
        block = self.blocks[b]
        index = (
            self._starts[b]
            + ((combo * len(block.task_configs) + config) * len(self.seeds) + seed_i) * len(self.options)
            + lr_i
        )
        return index if self[index].point_id == point_id else None

    def _point(self, block: Block, params: Params, rejected: str | None, task_params: Params, seed: int) -> Point:
        try:
            return Point(block.variant, block.task, params, task_params, seed=seed, rejected=rejected, **self.settings)
        except ParameterError as exc:
            raise UsageError(f"in the sweep's {block.variant} or {block.task} parameters: {exc}") from None


class JobList(Sequence[Job]):
    """Jobs given one by one rather than as a grid's factors, duplicates (by point id) removed: what
    :func:`~attnbench.sweep.runner.plan` takes for a sweep no single spec expresses (``attnbench
    reproduce``: each run with its own options). The same interface as :class:`Jobs`."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.jobs: tuple[Job, ...] = tuple(_unique(jobs, key=lambda job: job.point_id))
        self._index = {job.point_id: i for i, job in enumerate(self.jobs)}

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        return f"<JobList: {len(self):,} job(s)>"

    def __getitem__(self, index: Any) -> Any:
        return self.jobs[index]

    def iter(self, skip: Container[int] = ()) -> Iterator[Job]:
        """The jobs in order, leaving out those whose index is in ``skip``."""
        return (job for i, job in enumerate(self.jobs) if i not in skip)

    def find(self, job: Job) -> int | None:
        """The index of ``job`` (a job equal in id), or None."""
        return self._index.get(job.point_id)

    def locate(self, point_id: str, *configuration: Any) -> int | None:
        """The index of the job whose id is ``point_id``, or None (as :meth:`Jobs.locate`)."""
        return self._index.get(point_id)


class _Where:
    """Where each factor's value sits in a :class:`Jobs` (built on the first look-up)."""

    def __init__(self, jobs: Jobs) -> None:
        self.blocks = {(block.task, block.variant): b for b, block in enumerate(jobs.blocks)}
        self.combos = [_first_index(_row_key(dict(params)) for params, _ in block.combos) for block in jobs.blocks]
        self.configs = [_first_index(_row_key(dict(params)) for params in block.task_configs) for block in jobs.blocks]
        self.seeds = _first_index(repr(seed) for seed in jobs.seeds)
        self.lrs = _first_index(repr(options.lr) for options in jobs.options)


def _first_index(keys: Iterable[str]) -> dict[str, int]:
    where: dict[str, int] = {}
    for i, key in enumerate(keys):
        where.setdefault(key, i)
    return where


def expand(spec: SweepSpec) -> Jobs:
    """Every job of ``spec``, in a stable order, duplicates removed; unknown names are one-line errors.

    The jobs come as a lazy sequence (:class:`Jobs`): every value is checked here, once per variant
    configuration, task configuration, seed and learning rate, but no job is built until it is asked for.

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
    axis_taken: dict[tuple[str, str], bool] = {}  # (axis, value): whether some variant takes it
    axis_error: dict[tuple[str, str], str] = {}
    variant_combos: dict[str, tuple[tuple[Params, str | None], ...]] = {}
    for variant_name in dict.fromkeys(spec.variants):
        variant_cls = get_variant(variant_name)
        fixed = spec.variant_params.get(variant_name, {})
        grid = axis_grid(variant_cls, axes, fixed)
        from_axes = {p: a for a, p in axis_params(variant_cls.params).items() if a in axes and p not in fixed}
        combos = []
        for combo in _grid(grid):
            params, rejected = _resolve_axes(variant_cls, combo, variant_name, from_axes)
            for key in ((from_axes[k], _shown(v)) for k, v in combo.items() if k in from_axes):
                axis_taken[key] = axis_taken.get(key, False) or rejected is None
                if rejected is not None:
                    axis_error.setdefault(key, f"in the sweep's {variant_name} parameters: {rejected}")
            if rejected is not None:
                rejected = f"{rejected} (a value of the sweep's axes that {variant_name} does not take)"
            combos.append((tuple(sorted(params.items())), rejected))
        variant_combos[variant_name] = tuple(_unique(combos, key=lambda c: _key(c[0])))
    for key, taken in axis_taken.items():
        if not taken:
            raise UsageError(axis_error[key])
    blocks = []
    for task_name in dict.fromkeys(spec.tasks):
        task_cls = get_task(task_name)
        configs = []
        for config in _grid(axis_grid(task_cls, axes, spec.task_params.get(task_name, {}))):
            try:
                configs.append(tuple(sorted(task_cls.resolve(config).items())))
            except ParameterError as exc:
                raise UsageError(f"in the sweep's {task_name} parameters: {exc}") from None
        configs = _unique(configs)
        blocks.extend(Block(task_name, v, variant_combos[v], tuple(configs)) for v in variant_combos)
    for task_name in dict.fromkeys(spec.tasks):  # a target the task's metric cannot take: refused now
        try:
            check_target(task_name, spec.options.target)
        except ParameterError as exc:
            raise UsageError(f"in the sweep's target: {exc}") from None
    seeds = _unique((POINT_FIELDS["seed"].validate(s, "seeds") for s in spec.seeds), key=repr)
    options = _unique((spec.options.replace(lr=lr) for lr in swept_lrs(spec)), key=lambda o: repr(o.lr))
    jobs = Jobs(blocks, seeds, options, spec.settings)
    if not jobs:
        raise UsageError("the sweep is empty: no variant, task and axis values combine into a point")
    jobs[0]  # the settings and the first configuration make a point (each factor is checked above)
    return jobs


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
