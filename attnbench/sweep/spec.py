"""Sweep specifications: a TOML or YAML file, a built-in preset, and command-line overrides.

A spec names the variants and tasks, the three sweep axes (sequence length, memory size, top-k), any
other variant or task parameter to fix or sweep, and how each point is measured. Example (TOML)::

    variants = ["lstm", "dense", "sab", "rsm"]
    tasks = ["copy"]
    batch = 8
    hidden_size = 64
    seeds = [0]
    train_steps = 300          # 0: costs only, no accuracy
    [axes]
    seq_len = [20, 50, 100]    # the task's sequence-length parameter (copy: the delay T)
    memory = [4, 16]           # each variant's memory-size parameter (sab max_mem, rsm rho)
    top_k = [1, 5]             # each variant's top-k parameter (sab k_top)
    [variant_params.sab]       # a value fixes a parameter, a list sweeps it
    k_att = 5
    [task_params.copy]

TOML has no null: write "none" for a parameter that accepts none.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from attnbench.errors import UsageError
from attnbench.params import AXES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64", "bfloat16", "float16")


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs; every field has a default, files and flags override fields."""

    variants: tuple[str, ...] = ("lstm", "dense", "sab", "rsm")
    tasks: tuple[str, ...] = ("copy",)
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # seq_len / memory / top_k -> values
    variant_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # variant -> {param: value|list}
    task_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    batch: int = 8
    hidden_size: int = 64
    seeds: tuple[int, ...] = (0,)
    device: str = "cpu"
    dtype: str = "float32"
    warmup: int = 1  # untimed steps before timing
    repeats: int = 5  # timed steps per point
    train_steps: int = 0  # optimiser steps for accuracy (0: costs only)
    train_batch: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    timeout_s: float = 900.0  # per point
    max_memory: str | None = None  # host memory limit per worker, e.g. "8GiB"
    threads: int | None = None  # torch intra-op threads per worker (None: torch's default)

    def replace(self, **changes: Any) -> SweepSpec:
        """A copy with ``changes`` applied and validated."""
        return from_mapping({**dataclasses.asdict(self), **changes}, source="command line")


_TUPLES = ("variants", "tasks", "seeds")


def _positive(name: str, value: Any, source: str, *, zero: bool = False) -> None:
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise UsageError(f"{source}: {name}={value!r} is not allowed; expected a number >= {low}")


def from_mapping(data: Mapping[str, Any], source: str) -> SweepSpec:
    """Build and validate a spec from a parsed file or dict; errors name the file and the bad value."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: expected a table of sweep settings, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{source}: unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(known))}")
    values = dict(data)
    for name in _TUPLES:
        if name in values:
            raw = values[name]
            values[name] = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
            if not values[name]:
                raise UsageError(f"{source}: {name} is empty; give at least one value")
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
    spec = SweepSpec(**values)
    for name in ("batch", "hidden_size", "repeats", "train_batch"):
        _positive(name, getattr(spec, name), source)
    for name in ("warmup", "train_steps"):
        _positive(name, getattr(spec, name), source, zero=True)
    _positive("timeout_s", spec.timeout_s, source)
    if spec.threads is not None:
        _positive("threads", spec.threads, source)
    if not (isinstance(spec.lr, (int, float)) and spec.lr > 0):
        raise UsageError(f"{source}: lr={spec.lr!r} is not allowed; expected a number > 0")
    if spec.device.split(":")[0] not in DEVICES:
        raise UsageError(f"{source}: device={spec.device!r} is not allowed; expected cpu, cuda or cuda:N")
    if spec.dtype not in DTYPES:
        raise UsageError(f"{source}: dtype={spec.dtype!r} is not allowed; expected one of {', '.join(DTYPES)}")
    if spec.optimizer not in ("adam", "rmsprop"):
        raise UsageError(f"{source}: optimizer={spec.optimizer!r} is not allowed; expected adam or rmsprop")
    if spec.max_memory is not None:
        parse_bytes(spec.max_memory, f"{source}: max_memory")
    return spec


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
    if value <= 0:
        raise UsageError(f"{source}: {text!r} is not a memory size; expected a positive size")
    return int(value)


def load_file(path: str | Path) -> SweepSpec:
    """Read a spec from a .toml, .yaml or .yml file; one-line errors name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read sweep spec {str(path)!r}: {exc.strerror or exc}") from None
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
