"""One configuration, one identity: what is measured (:class:`Point`) and how (:class:`Options`).

Every entry point builds these two frozen objects and passes them on: ``attnbench sweep`` (its spec
expands into pairs of them), the sweep worker, :func:`attnbench.measure.measure`, ``attnbench train``,
``attnbench reproduce``, ``attnbench measure`` and the asv benchmarks. Each field is declared once,
here, as a :class:`~attnbench.params.Param` (default, allowed values, help); construction validates
every field through its declaration and raises :class:`~attnbench.params.ParameterError` with the
one-line message the CLI prints. The point id and the display label are computed here and nowhere
else, so a row of one configuration has the same id and label whichever command produced it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from attnbench import __version__
from attnbench.params import AXES, Param, ParameterError, axis_params
from attnbench.registry import UnknownNameError

if TYPE_CHECKING:  # torch loads only when something is measured or built
    import torch

    from attnbench.tasks.base import Task
    from attnbench.variants.base import RecurrentVariant

DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16")
DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "fp64": "float64", "double": "float64"}
DTYPE_ALIASES |= {"fp16": "float16", "half": "float16", "bf16": "bfloat16"}
OPTIMIZERS = ("adam", "rmsprop")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")  # none, or a torch.compile mode
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def declared(param: Param) -> Any:
    """A dataclass field whose default, allowed values and help are ``param``'s."""
    return field(default=param.default, metadata={"param": param})


def declarations(cls: type) -> dict[str, Param]:
    """The :class:`Param` of every declared field of ``cls`` (a :class:`Point` or :class:`Options`)."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


def _validate_fields(obj: Any, owner: str) -> None:
    """Coerce and check every declared field of the frozen dataclass ``obj`` in place."""
    for name, param in declarations(type(obj)).items():
        object.__setattr__(obj, name, param.validate(getattr(obj, name), owner))


def check_device(value: str, owner: str = "") -> str:
    """``value`` if it names a device kind attnbench knows (cpu, cuda, cuda:N); whether it exists here is
    :func:`resolve_device`'s question."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        where = f"{owner}: " if owner else ""
        raise ParameterError(f"{where}device={value!r} is not allowed (unknown device); expected cpu, cuda or cuda:N")
    return value


def _pairs(params: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return dict(params.items()) if isinstance(params, Mapping) else dict(params)


@dataclass(frozen=True)
class Point:
    """What is measured: a variant and its parameters on a task and its parameters, at a size.

    ``variant_params`` and ``task_params`` may be given as mappings; they are stored complete
    (defaults filled in, values validated) as sorted ``(name, value)`` tuples, so equal
    configurations are equal points.

    ``rejected`` is set only by a sweep's expansion, for an axis value this variant does not take
    (rsm's memory cannot be none) while another variant of the sweep does: the variant's parameters
    are then kept as given, unchecked, and the point is never measured; it is stored as skipped with
    ``rejected`` as the reason.
    """

    variant: str
    task: str
    variant_params: tuple[tuple[str, Any], ...] = ()
    task_params: tuple[tuple[str, Any], ...] = ()
    batch: int = declared(Param("batch", 32, int, low=1, help="batch size B of the timed passes"))
    hidden_size: int = declared(Param("hidden_size", 128, int, low=1, help="recurrent state size H"))
    # below 2**63: torch seeds a generator from a 64-bit integer, and the held-out streams add offsets to it
    seed: int = declared(Param("seed", 0, int, low=0, high=2**63 - 1, help="seed of data and initialisation"))
    device: str = declared(Param("device", "cpu", str, help="torch device: cpu, cuda or cuda:N"))
    dtype: str = declared(
        Param("dtype", "float32", str, help="parameter and input type: float32, float64, float16 or bfloat16")
    )
    rejected: str | None = None

    def __post_init__(self) -> None:
        from attnbench.tasks import get_task
        from attnbench.variants import get_variant

        dtype = self.dtype
        if isinstance(dtype, str):
            object.__setattr__(self, "dtype", DTYPE_ALIASES.get(dtype.lower(), dtype.lower()))
        elif dtype is not None and str(dtype).startswith("torch."):
            object.__setattr__(self, "dtype", str(dtype).removeprefix("torch."))
        object.__setattr__(self, "device", str(self.device))
        _validate_fields(self, "")
        check_device(self.device)
        if self.dtype not in DTYPE_NAMES:
            raise ParameterError(
                f"dtype={self.dtype!r} is not allowed (unknown dtype); expected one of {', '.join(DTYPE_NAMES)}"
            )
        cls = get_variant(self.variant)
        given = _pairs(self.variant_params)
        variant = given if self.rejected is not None else cls.resolve(given)
        task = get_task(self.task).resolve(_pairs(self.task_params))
        object.__setattr__(self, "variant_params", tuple(sorted(variant.items())))
        object.__setattr__(self, "task_params", tuple(sorted(task.items())))

    @classmethod
    def make(
        cls,
        variant: str,
        task: str,
        *,
        seq_len: int | None = None,
        variant_params: Mapping[str, Any] | None = None,
        task_params: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Point:
        """A point whose task length is ``seq_len`` (the task's sequence-length parameter, copy: T)."""
        from attnbench.tasks import get_task

        task_params = dict(task_params or {})
        if seq_len is not None:
            name = get_task(task).seq_len_param()
            if name is None:
                raise ParameterError(f"seq_len: task {task!r} has no sequence-length parameter; its length is fixed")
            if name in task_params:
                raise ParameterError(f"seq_len and task parameter {name} both set the length; give one")
            task_params[name] = seq_len
        return cls(variant, task, tuple((variant_params or {}).items()), tuple(task_params.items()), **fields)

    def replace(self, **changes: Any) -> Point:
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)

    @property
    def params(self) -> dict[str, Any]:
        """The variant's parameters as a dict."""
        return dict(self.variant_params)

    @functools.cached_property
    def label(self) -> str:
        """The display name of this configuration's variant: see :func:`label`."""
        return label(self.variant, self.params)

    def variant_cls(self) -> type[RecurrentVariant]:
        """The registered variant class."""
        from attnbench.variants import get_variant

        return get_variant(self.variant)

    def build_task(self) -> Task:
        """The task, built."""
        from attnbench.tasks import build_task

        return build_task(self.task, **dict(self.task_params))

    @property
    def seq_len(self) -> int:
        """Total input length T fed to the variant (each task configuration is built once per process)."""
        try:
            return _task_seq_len(self.task, self.task_params)
        except TypeError:  # an unhashable task parameter value: no caching
            return self.build_task().seq_len

    def axis_value(self, axis: str) -> Any:
        """The value this point has on a sweep axis (None where its variant/task has no such parameter)."""
        if axis == "seq_len":
            from attnbench.tasks import get_task

            name = axis_params(get_task(self.task).params).get("seq_len")
            return dict(self.task_params).get(name) if name else None
        name = axis_params(self.variant_cls().params).get(axis)
        if name:
            return self.params.get(name)
        from attnbench.tasks import get_task

        name = axis_params(get_task(self.task).params).get(axis)  # a task's axis (mqar's pairs)
        return dict(self.task_params).get(name) if name else None

    @functools.cached_property
    def skip_reason(self) -> str | None:
        """Why this combination makes no sense (the variant's ``skip``, or :attr:`rejected`), or None."""
        if self.rejected is not None:
            return self.rejected
        return self.variant_cls().skip(self.seq_len, **self.params)

    def torch_device(self) -> torch.device:
        """The device as a torch device that exists here; :class:`ParameterError` otherwise."""
        return resolve_device(self.device)

    def torch_dtype(self) -> torch.dtype:
        """The dtype as a torch dtype."""
        return resolve_dtype(self.dtype)

    def build_model(self, task: Task | None = None) -> RecurrentVariant:
        """The variant sized for the task, weights initialised from the seed, on the device and dtype."""
        from attnbench.variants import build_seeded  # not attnbench.training: config is below it

        task = task or self.build_task()
        sizes = (task.input_size, task.output_size, self.hidden_size)
        model = build_seeded(self.variant, *sizes, self.seed, **self.params)
        return model.to(device=self.torch_device(), dtype=self.torch_dtype()).train()


@dataclass(frozen=True)
class Options:
    """How a point is measured: timing repeats, the accuracy run's budget and optimiser, gradient reach."""

    warmup: int = declared(Param("warmup", 2, int, low=0, help="untimed calls before the timed ones"))
    repeats: int = declared(Param("repeats", 10, int, low=1, help="timed forward passes and training steps"))
    train_steps: int = declared(
        Param("train_steps", 0, int, low=0, help="optimiser steps of the accuracy run (0: costs only)")
    )
    train_batch: int = declared(Param("train_batch", 32, int, low=1, help="batch of the accuracy run"))
    optimizer: str = declared(
        Param("optimizer", "adam", str, choices=OPTIMIZERS, help="adam (SAB's release) or rmsprop (RSM's)")
    )
    lr: float = declared(Param("lr", 1e-3, float, above=0, help="learning rate of the accuracy run"))
    clip: float = declared(Param("clip", 1.0, float, low=0, help="max gradient norm; 0 turns clipping off"))
    eval_batches: int = declared(Param("eval_batches", 10, int, low=1, help="held-out batches the score averages"))
    curve_points: int = declared(
        Param("curve_points", 20, int, low=0, help="validation points of the learning curve (0: no curve)")
    )
    target: float | None = declared(
        Param("target", None, float, none_means="the task's declared target", help="score that counts as solved")
    )
    reach: bool = declared(Param("reach", True, bool, help="measure gradient reach"))
    energy_window_s: float = declared(
        Param("energy_window_s", 1.0, float, above=0, help="least energy window (NVML updates every 20-100 ms)")
    )
    threads: int | None = declared(
        Param("threads", None, int, low=1, none_means="torch's default", help="torch intra-op threads")
    )
    compile: str = declared(
        Param(
            "compile",
            "none",
            str,
            choices=COMPILE_MODES,
            help="torch.compile mode of the timed steps and the accuracy run (none: eager); "
            "compile time is compile_time_s",
        )
    )

    def __post_init__(self) -> None:
        _validate_fields(self, "")
        if self.target is not None and math.isinf(self.target):  # no task scores inf; JSON would store null
            raise ParameterError(
                f"target={self.target!r} is not allowed; expected a finite number, or none (the task's declared target)"
            )

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)


POINT_FIELDS: dict[str, Param] = declarations(Point)
OPTION_FIELDS: dict[str, Param] = declarations(Options)

# Fields hashed into the id by attnbench 0.1's sweeps, always; fields added since enter the hash only
# when they differ from their default, so results stored before keep their ids (resume still works).
_ID_ALWAYS = ("batch", "hidden_size", "device", "dtype", "seed")
_ID_ALWAYS_OPTIONS = ("warmup", "repeats", "train_steps", "train_batch", "lr", "optimizer", "threads")


@functools.lru_cache(maxsize=4096)
def _task_seq_len(task: str, task_params: tuple[tuple[str, Any], ...]) -> int:
    from attnbench.tasks import build_task

    return build_task(task, **dict(task_params)).seq_len


def point_id(point: Point, options: Options) -> str:
    """Stable key of a configuration and the attnbench version (what ``sweep --resume`` matches).

    Computed once per point and options (kept on the point: a large sweep asks for it several times).
    """
    cache: dict[Options, str] = point.__dict__.setdefault("_point_ids", {})
    if options not in cache:
        cache[options] = _point_id(point, options)
    return cache[options]


def _point_id(point: Point, options: Options) -> str:
    key: dict[str, Any] = {
        "variant": point.variant,
        "variant_params": [list(kv) for kv in point.variant_params],
        "task": point.task,
        "task_params": [list(kv) for kv in point.task_params],
        **{name: getattr(point, name) for name in _ID_ALWAYS},
        **{name: getattr(options, name) for name in _ID_ALWAYS_OPTIONS},
    }
    for name, param in OPTION_FIELDS.items():
        if name not in key and getattr(options, name) != param.default:
            key[name] = getattr(options, name)
    key["attnbench_version"] = __version__
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return f"{point.variant}-{point.task}-{digest[:16]}"


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def label(variant: str, params: Mapping[str, Any]) -> str:
    """Display name of a configuration: ``sab[k_att=2,max_mem=16]``, the variant and its parameters that
    differ from their defaults, sorted (every one given, for a variant that is not installed here)."""
    try:
        from attnbench.variants import get_variant

        defaults = {p.name: p.default for p in get_variant(variant).params}
    except UnknownNameError:
        defaults = {}
    shown = [f"{k}={_fmt(v)}" for k, v in sorted(params.items()) if k not in defaults or defaults[k] != v]
    return f"{variant}[{','.join(shown)}]" if shown else str(variant)


def axis_label(variant: str, axes: Mapping[str, Any]) -> str:
    """:func:`label` of ``variant`` with its memory-size and top-k parameters set from axis values.

    What the asv reader uses, where only the axes are known; a variant not installed here, or values
    it rejects, fall back to ``variant[memory=..,top_k=..]``.
    """
    given = {axis: value for axis, value in axes.items() if value is not None}
    try:
        from attnbench.variants import get_variant

        cls = get_variant(variant)
        names = axis_params(cls.params)
        if set(given) - set(names):
            raise ParameterError("axis without a parameter")
        return label(variant, cls.resolve({names[a]: v for a, v in given.items()}))
    except (UnknownNameError, ParameterError):
        return label(str(variant), given)


@dataclass(frozen=True)
class RunColumn:
    """A column every row records about the run that made it (see :func:`run_columns`).

    ``key``: rows that differ in it are different configurations (aggregate groups on it); False for
    what differs between the replicates of one configuration (the seed, the point id). ``field``: the
    :class:`Point` or :class:`Options` field it records (``"point.batch"``, ``"options.clip"``), if any.
    """

    name: str
    help: str
    key: bool = True
    field: str | None = None


# Point fields that are not declared parameters, with their columns' descriptions; ``rejected`` is a
# sweep's note on a point that is never measured (its row is skipped, with the reason in ``error``).
_POINT_COLUMNS = {
    "variant": "registered variant name",
    "variant_params": "JSON object of every variant parameter, defaults filled in",
    "task": "registered task name",
    "task_params": "JSON object of every task parameter, defaults filled in",
}
NOT_RECORDED = ("rejected",)
_AXIS_COLUMNS = {
    "seq_len": "total input length T fed to the variant",
    "memory": "value of the variant's memory-size parameter (empty if it has none)",
    "top_k": "value of the variant's top-k parameter (empty if it has none)",
    "pairs": "key-value pairs of the task (mqar's pairs, none resolved to T/16; empty if it has none)",
}
# Where a column's name or meaning is not simply its field's and its help: field -> (column, description).
_COLUMN_OF = {
    "options.target": ("target", "score that counts as solved (the task's declared target unless the run set one)"),
    # the environment column `threads` is what the process had; this one is what the run asked for
    "options.threads": ("requested_threads", "torch intra-op threads the run asked for (empty: torch's default)"),
    "options.lr": ("lr", "learning rate of the accuracy run (a sweep axis: `lrs`)"),
}
# Recorded, but what differs between the replicates of one configuration: never a configuration key.
REPLICATE_COLUMNS: tuple[str, ...] = ("point_id", "seed")


@functools.cache
def run_columns() -> tuple[RunColumn, ...]:
    """Every column a row records about the run that made it, generated from the declarations: the point
    id and label, the point's variant, task and their parameters, the sweep axes (:data:`AXES`), and one
    column per declared :class:`Point` and :class:`Options` field (its help as the description).

    The one projection of a configuration onto a row: the schema's configuration columns, the values
    (:func:`config_columns`), ``attnbench train --json`` and aggregate's grouping keys all come from it.
    """
    columns = [
        RunColumn("point_id", "stable key of the configuration and attnbench version (resume skips stored ids)"),
        RunColumn("label", "deterministic display name, e.g. sab[k_att=10,k_top=5]"),
        *(RunColumn(name, text, field=f"point.{name}") for name, text in _POINT_COLUMNS.items()),
        *(RunColumn(axis, _AXIS_COLUMNS.get(axis, f"value of the {axis} axis' parameter")) for axis in AXES),
    ]
    for owner, fields in (("point", POINT_FIELDS), ("options", OPTION_FIELDS)):
        for name, param in fields.items():
            column, text = _COLUMN_OF.get(f"{owner}.{name}", (name, param.help))
            columns.append(RunColumn(column, text, field=f"{owner}.{name}"))
    return tuple(dataclasses.replace(c, key=c.name not in REPLICATE_COLUMNS) for c in columns)


def run_column_names() -> tuple[str, ...]:
    """The names of :func:`run_columns`, in order."""
    return tuple(c.name for c in run_columns())


def config_keys() -> tuple[str, ...]:
    """The run columns that tell configurations apart: every one but the replicates' (seed, point id)."""
    return tuple(c.name for c in run_columns() if c.key)


def config_columns(point: Point, options: Options) -> dict[str, Any]:
    """The values of :func:`run_columns` for a configuration, and the schema version of the row."""
    from attnbench.schema import SCHEMA_VERSION

    try:
        seq_len = point.seq_len
    except Exception:  # a task that cannot be built is reported by the measurement itself
        seq_len = None
    special = {  # columns whose value is not the field's own
        "point_id": point_id(point, options),
        "label": point.label,
        "variant_params": json.dumps(point.params, sort_keys=True),
        "task_params": json.dumps(dict(point.task_params), sort_keys=True),
        "seq_len": seq_len,
        "target": resolved_target(point, options),
    }
    owners = {"point": point, "options": options}
    out: dict[str, Any] = {}
    for column in run_columns():
        if column.name in special:
            out[column.name] = special[column.name]
        elif column.field is not None:
            owner, name = column.field.split(".")
            out[column.name] = getattr(owners[owner], name)
        else:  # an axis
            out[column.name] = _axis_column(point, column.name)
    out["schema_version"] = SCHEMA_VERSION
    return out


def _axis_column(point: Point, axis: str) -> Any:
    """The point's value on ``axis``; for a task parameter left at none, what the built task makes of it
    where it says (mqar's pairs none: T/16), as seq_len is the length the task builds."""
    value = point.axis_value(axis)
    if value is not None or axis == "seq_len":
        return value
    from attnbench.tasks import get_task

    name = axis_params(get_task(point.task).params).get(axis)
    if name is None:
        return None
    try:
        built = getattr(point.build_task(), name, None)
    except Exception:  # a task that cannot be built is reported by the measurement itself
        return None
    return built if isinstance(built, (int, float)) and not isinstance(built, bool) else None


def resolved_target(point: Point, options: Options) -> float | None:
    """The target score of a configuration: the options' ``target`` (checked against the task's metric:
    :func:`check_target`), else its task's declared one."""
    from attnbench.tasks import get_task

    if options.target is not None:
        return check_target(point.task, options.target)
    return get_task(point.task).target


def check_target(task: str | type[Task] | Task, target: float | None, owner: str = "") -> float | None:
    """``target`` if it is None or a score ``task`` (a name, or the task) can reach and miss: finite and in its
    :meth:`~attnbench.tasks.base.Task.score_range`; :class:`ParameterError` naming the range otherwise."""
    from attnbench.tasks import get_task

    cls = get_task(task) if isinstance(task, str) else task
    low, high = cls.score_range()
    param = Param("target", None, float, low=low, high=high, none_means="the task's declared target")
    where = f"{owner}: " if owner else ""
    owner = f"{where}task {cls.name} scores {cls.metric}"
    if isinstance(target, float) and math.isinf(target):  # bare bounds let inf by; no score is infinite
        allowed = param.allowed().replace("a number", "a finite number", 1)
        raise ParameterError(f"{owner}: target={target!r} is not allowed; expected {allowed}")
    return param.validate(target, owner)


class Job(NamedTuple):
    """A point and its options: what a sweep expands into and a worker measures."""

    point: Point
    options: Options

    @property
    def point_id(self) -> str:
        """See :func:`point_id`."""
        return point_id(self.point, self.options)

    @property
    def label(self) -> str:
        """See :func:`label`."""
        return self.point.label

    @property
    def skip_reason(self) -> str | None:
        """See :attr:`Point.skip_reason`."""
        return self.point.skip_reason

    def to_json(self) -> str:
        """The job as JSON (what a worker process receives)."""
        return json.dumps({"point": dataclasses.asdict(self.point), "options": dataclasses.asdict(self.options)})

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        point = data["point"]
        for key in ("variant_params", "task_params"):
            point[key] = tuple((k, v) for k, v in point[key])
        return cls(Point(**point), Options(**data["options"]))


class Group(NamedTuple):
    """A replicate group: jobs of one configuration that differ only in seed and learning rate, measured in
    one job (one process, one Slurm task) and trained together (:func:`attnbench.training.train_group`).

    The unit the sweep's executors run; a group of one job is a job run alone. Its id, label and skip
    reason are those of its first job.
    """

    jobs: tuple[Job, ...]

    @property
    def point_id(self) -> str:
        """The first job's id (every member keeps its own, in its own row)."""
        return self.jobs[0].point_id

    @property
    def point_ids(self) -> list[str]:
        """Every member's id, in order."""
        return [job.point_id for job in self.jobs]

    @property
    def label(self) -> str:
        """The configuration's label, with the number of replicates when there are several."""
        n = len(self.jobs)
        return self.jobs[0].label if n == 1 else f"{self.jobs[0].label} x{n}"

    @property
    def point(self) -> Point:
        """The first job's point (the configuration: device, task, variant)."""
        return self.jobs[0].point

    @property
    def skip_reason(self) -> str | None:
        """See :attr:`Point.skip_reason` (a seed or an lr never changes it)."""
        return self.jobs[0].skip_reason

    def to_json(self) -> str:
        """The group as JSON (what a worker process receives)."""
        return json.dumps({"jobs": [json.loads(job.to_json()) for job in self.jobs]})

    @classmethod
    def from_json(cls, text: str) -> Group:
        """Inverse of :meth:`to_json`; a single job's JSON (:meth:`Job.to_json`) is a group of one."""
        data = json.loads(text)
        items = data.get("jobs", [data])
        return cls(tuple(Job.from_json(json.dumps(item)) for item in items))


def replicate_key(job: Job) -> tuple[Point, Options]:
    """What the replicates of one configuration share: the job less its seed and learning rate."""
    return job.point.replace(seed=0), job.options.replace(lr=1.0)


def resolve_device(text: str | torch.device) -> torch.device:
    """``text`` as a torch device that exists here; :class:`ParameterError` otherwise."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise ParameterError(f"unknown device {str(text)!r}; expected cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {str(text)!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ParameterError(
                f"device {str(text)!r} does not exist; {torch.cuda.device_count()} CUDA device(s) here"
            )
        return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())
    raise ParameterError(f"device {str(text)!r} is not supported; expected cpu, cuda or cuda:N")


def resolve_dtype(text: str | torch.dtype) -> torch.dtype:
    """A floating-point dtype by name (float32, float64, float16, bfloat16 or an alias such as bf16)."""
    import torch

    key = str(text).removeprefix("torch.").lower()
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_NAMES:
        raise ParameterError(f"unknown dtype {text!r}; expected one of {', '.join(DTYPE_NAMES)}")
    return getattr(torch, key)


__all__ = [
    "COMPILE_MODES",
    "DTYPE_NAMES",
    "OPTIMIZERS",
    "OPTION_FIELDS",
    "POINT_FIELDS",
    "REPLICATE_COLUMNS",
    "Job",
    "Options",
    "Point",
    "RunColumn",
    "axis_label",
    "check_device",
    "check_target",
    "config_columns",
    "config_keys",
    "declarations",
    "declared",
    "label",
    "point_id",
    "resolve_device",
    "resolve_dtype",
    "resolved_target",
    "run_column_names",
    "run_columns",
]
