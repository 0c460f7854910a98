"""Sweep specifications: a TOML or YAML file, a built-in preset, and command-line overrides.

A spec names the variants and tasks, the three sweep axes (sequence length, memory size, top-k), any
other variant or task parameter to fix or sweep, the settings of every point and how each point is
measured: every field of :class:`attnbench.config.Point` and :class:`attnbench.config.Options`
(``clip``, ``eval_batches``, ``reach`` and the rest included) can be set. Example (TOML)::

    variants = ["lstm", "dense", "sab", "rsm"]
    tasks = ["copy"]
    batch = 8
    hidden_size = 64
    seeds = [0]                # replicates: aggregate() and the report give means and intervals over them
    lrs = [1e-3, 3e-3]         # learning rates swept, chosen per configuration on validation (default: lr)
    train_steps = 300          # 0: costs only, no accuracy
    [axes]
    seq_len = [20, 50, 100]    # the task's sequence-length parameter (copy: the delay T)
    memory = [4, 16]           # each variant's memory-size parameter (sab max_mem, rsm rho)
    top_k = [1, 5]             # each variant's top-k parameter (sab k_top)
    pairs = [4, 8]             # each task's number of key-value pairs (mqar)
    [variant_params.sab]       # a value fixes a parameter, a list sweeps it
    k_att = 5
    [task_params.copy]

TOML has no null: write "none" for a parameter that accepts none.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from attnbench.config import DTYPE_ALIASES, DTYPE_NAMES, OPTION_FIELDS, POINT_FIELDS, Options, check_device
from attnbench.errors import UsageError
from attnbench.params import AXES, Param, ParameterError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_TIMEOUT_S = 7 * 24 * 3600

# Settings of the sweep itself; the settings of its points and their options are declared once, in
# attnbench.config (Point and Options), and every one of them can be set here.
EXECUTION: dict[str, Param] = {
    p.name: p
    for p in (
        # at most a week: past that a point is not measuring, and waits that long overflow the OS's clocks
        Param("timeout_s", 900.0, float, above=0, high=MAX_TIMEOUT_S, help="time limit per point, seconds"),
        Param("max_memory", None, str, none_means="no limit", help="host memory limit per point, e.g. 8GiB"),
        Param(
            "workers",
            1,
            int,
            low=1,
            high=256,
            help="points run side by side on this machine (1: no two measurements share it)",
        ),
        Param(
            "group_size",
            32,
            int,
            low=1,
            high=4096,
            help="replicates (seeds x lrs of one configuration) measured as one job and trained together, "
            "at most (1: each point alone)",
        ),
    )
}
# The point fields a spec sets for every point (variant, task, their parameters and the seed are the grid's).
POINT_SETTINGS: dict[str, Param] = {k: v for k, v in POINT_FIELDS.items() if k != "seed"}


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs; every field has a default, files and flags override fields.

    ``settings`` holds the point settings given (batch, hidden_size, device, dtype; the rest take
    :class:`~attnbench.config.Point`'s defaults), ``options`` how each point is measured. Both read
    as attributes too: ``spec.batch``, ``spec.repeats``.
    """

    variants: tuple[str, ...] = ("lstm", "dense", "sab", "rsm")
    tasks: tuple[str, ...] = ("copy",)
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # seq_len / memory / top_k -> values
    variant_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # variant -> {param: value|list}
    task_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    lrs: tuple[float, ...] = ()  # learning rates swept (an axis, like seeds); empty: options.lr alone
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    timeout_s: float = EXECUTION["timeout_s"].default
    max_memory: str | None = EXECUTION["max_memory"].default
    workers: int = EXECUTION["workers"].default
    group_size: int = EXECUTION["group_size"].default

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in POINT_SETTINGS:
            return self.settings.get(name, POINT_SETTINGS[name].default)
        if name in OPTION_FIELDS:
            return getattr(self.options, name)
        raise AttributeError(name)

    def flat(self) -> dict[str, Any]:
        """The spec as the flat table a spec file holds."""
        grid = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("settings", "options")
        }
        return {**grid, **self.settings, **dataclasses.asdict(self.options)}

    def replace(self, **changes: Any) -> SweepSpec:
        """A copy with ``changes`` (flat names, as in a spec file) applied and validated."""
        return from_mapping({**self.flat(), **changes}, source="command line")


_TUPLES = ("variants", "tasks", "seeds", "lrs")
GRID_FIELDS = ("variants", "tasks", "axes", "variant_params", "task_params", "seeds", "lrs")
KNOWN = (*GRID_FIELDS, *POINT_SETTINGS, *OPTION_FIELDS, *EXECUTION)


def _positive(name: str, value: Any, source: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise UsageError(f"{source}: {name}={value!r} is not allowed; expected a number >= 1")


def from_mapping(data: Mapping[str, Any], source: str) -> SweepSpec:
    """Build and validate a spec from a parsed file or dict; errors name the file and the bad value."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: expected a table of sweep settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(KNOWN))
    if unknown:
        raise UsageError(f"{source}: unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(KNOWN))}")
    values = {k: v for k, v in data.items() if k in GRID_FIELDS}
    for name in _TUPLES:
        if name in values:
            raw = values[name]
            values[name] = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
            if not values[name] and name != "lrs":  # no lrs: the one lr of the options
                raise UsageError(f"{source}: {name} is empty; give at least one value")
    for name, kind in (("variants", "variant"), ("tasks", "task")):
        for item in values.get(name, ()):
            if not isinstance(item, str):
                raise UsageError(f"{source}: {name} entry {item!r} is not allowed; expected {kind} names (strings)")
    for seed in values.get("seeds", ()):
        POINT_FIELDS["seed"].validate(seed, source)
    if "lrs" in values:
        values["lrs"] = tuple(OPTION_FIELDS["lr"].validate(lr, f"{source}: lrs") for lr in values["lrs"])
    axes = values.get("axes", {}) or {}
    if not isinstance(axes, Mapping):
        raise UsageError(f"{source}: axes must be a table of axis = [values]")
    bad_axis = sorted(set(axes) - set(AXES))
    if bad_axis:
        raise UsageError(f"{source}: unknown axis {bad_axis[0]!r}; axes are {', '.join(AXES)}")
    clean_axes = {}
    for axis, raw in axes.items():
        vals = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
        if not vals:
            raise UsageError(f"{source}: axis {axis} is empty; give at least one value")
        for v in vals:
            if axis == "seq_len" or not (isinstance(v, str) and v.lower() == "none"):
                _positive(f"{axis} value", v, source)
        clean_axes[axis] = vals
    values["axes"] = clean_axes
    for table in ("variant_params", "task_params"):
        raw = values.get(table, {}) or {}
        if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
            raise UsageError(f"{source}: {table} must be a table of name = {{parameter = value}}")
        values[table] = {k: dict(v) for k, v in raw.items()}
    given = dict(data)
    if isinstance(given.get("dtype"), str):  # aliases (bf16) as a Point takes them
        given["dtype"] = DTYPE_ALIASES.get(given["dtype"].lower(), given["dtype"].lower())
    if "device" in given:  # "expected cpu, cuda or cuda:N" says more than "expected a string"
        check_device(given["device"], source)
    settings = {k: POINT_SETTINGS[k].validate(given[k], source) for k in POINT_SETTINGS if k in given}
    if settings.get("dtype", DTYPE_NAMES[0]) not in DTYPE_NAMES:
        raise UsageError(f"{source}: dtype={data['dtype']!r} is not allowed; expected one of {', '.join(DTYPE_NAMES)}")
    try:
        options = Options(**{k: data[k] for k in OPTION_FIELDS if k in data})
    except ParameterError as exc:
        raise UsageError(f"{source}: {exc}") from None
    execution = {k: EXECUTION[k].validate(data[k], source) for k in EXECUTION if k in data}
    if execution.get("max_memory") is not None:
        parse_bytes(execution["max_memory"], f"{source}: max_memory")
    return SweepSpec(**values, settings=settings, options=options, **execution)


def parse_bytes(text: str, source: str = "max_memory") -> int:
    """``"8GiB"``, ``"512MB"``, ``"1e9"`` -> bytes."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
    raw = str(text).strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise UsageError(f"{source}: {text!r} is not a memory size; expected e.g. 8GiB, 512MB or 1e9") from None
    if not math.isfinite(value) or value < 1:
        raise UsageError(f"{source}: {text!r} is not a memory size; expected a finite size of at least 1 byte")
    return int(value)


def load_file(path: str | Path) -> SweepSpec:
    """Read a spec from a .toml, .yaml or .yml file (UTF-8); one-line errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read sweep spec {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"sweep spec {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise UsageError(f"sweep spec {str(path)!r}: unknown format {path.suffix!r}; expected .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"sweep spec {str(path)!r} is malformed: {first}") from None
    return from_mapping(data or {}, source=str(path))


def preset_names() -> list[str]:
    """Built-in presets, shipped as TOML files in attnbench/presets/."""
    return sorted(
        p.name[: -len(".toml")] for p in resources.files("attnbench.presets").iterdir() if p.name.endswith(".toml")
    )


def load_preset(name: str) -> SweepSpec:
    """A built-in preset by name; the error lists the presets."""
    if name not in preset_names():
        raise UsageError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    text = resources.files("attnbench.presets").joinpath(f"{name}.toml").read_text()
    return from_mapping(tomllib.loads(text), source=f"preset {name}")
