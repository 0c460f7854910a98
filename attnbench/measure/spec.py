"""What to measure: :class:`MeasureSpec`, its validation, and the configuration columns of its row."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from attnbench import __version__
from attnbench.errors import UsageError
from attnbench.params import ParameterError, axis_params
from attnbench.tasks.base import Task
from attnbench.variants.base import RecurrentVariant

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "fp64": "float64", "double": "float64"}
DTYPE_ALIASES |= {"fp16": "float16", "half": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class MeasureSpec:
    """One configuration to measure, and how.

    The configuration is the variant with its parameters, the task with its parameters, batch, hidden
    size, device, dtype and seed; the rest says how hard to look (repetitions, training run).
    """

    variant: str
    task: str
    variant_params: Mapping[str, Any] = field(default_factory=dict)
    task_params: Mapping[str, Any] = field(default_factory=dict)
    seq_len: int | None = None  # sets the task's sequence-length parameter (copy: its delay T)
    batch: int = 32
    hidden_size: int = 128
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0  # data and initialisation
    warmup: int = 2  # untimed calls before the timed ones
    repeats: int = 10  # timed forward passes and timed training steps
    train_steps: int = 0  # accuracy run after the cost measurements; 0: none
    train_batch: int | None = None  # batch of the accuracy run (default: batch)
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float = 1.0
    eval_batches: int = 10
    progress: bool = False  # tqdm bar during the accuracy run
    energy_window_s: float = 1.0  # the NVML counter updates every 20-100 ms
    reach: bool = True  # measure gradient reach

    def __post_init__(self) -> None:
        for name, low in (("batch", 1), ("hidden_size", 1), ("repeats", 1), ("warmup", 0), ("train_steps", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"measure: {name}={value!r} is not allowed; expected an integer >= {low}")
        if self.seq_len is not None and (not isinstance(self.seq_len, int) or self.seq_len < 1):
            raise ParameterError(f"measure: seq_len={self.seq_len!r} is not allowed; expected an integer >= 1")
        if not self.energy_window_s > 0:
            raise ParameterError(f"measure: energy_window_s={self.energy_window_s!r} is not allowed; expected > 0")


def resolve_device(text: str | torch.device) -> torch.device:
    """``text`` as a torch device that exists here; :class:`UsageError` otherwise."""
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"unknown device {str(text)!r}; expected cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {str(text)!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"device {str(text)!r} does not exist; {torch.cuda.device_count()} CUDA device(s) here")
        return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())
    raise UsageError(f"device {str(text)!r} is not supported; expected cpu, cuda or cuda:N")


def resolve_dtype(text: str | torch.dtype) -> torch.dtype:
    """A floating-point dtype by name (float32, float64, float16, bfloat16 or an alias such as bf16)."""
    if isinstance(text, torch.dtype):
        if text in DTYPES.values():
            return text
        text = str(text).removeprefix("torch.")
    key = DTYPE_ALIASES.get(str(text).lower(), str(text).lower())
    if key not in DTYPES:
        raise UsageError(f"unknown dtype {text!r}; expected one of {', '.join(DTYPES)}")
    return DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def variant_label(name: str, given: Mapping[str, Any], resolved: Mapping[str, Any]) -> str:
    """``sab[k_att=10,k_top=5]``: the variant with the parameters it was given (resolved values), sorted."""
    items = ",".join(f"{k}={resolved[k]}" for k in sorted(given))
    return f"{name}[{items}]" if items else name


def point_id(config: Mapping[str, Any]) -> str:
    """A stable key of a configuration and the attnbench version: 16 hex digits of a SHA-256."""
    text = json.dumps({"config": config, "attnbench": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_columns(
    spec: MeasureSpec,
    task: Task,
    variant_cls: type[RecurrentVariant],
    variant_params: Mapping[str, Any],
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """The schema's configuration columns for ``spec`` (point_id and label included)."""
    axes = axis_params(variant_cls.params)
    config = {
        "variant": variant_cls.name,
        "variant_params": dict(variant_params),
        "task": task.name,
        "task_params": dict(task.config),
        "seq_len": task.seq_len,
        "memory": variant_params[axes["memory"]] if "memory" in axes else None,
        "top_k": variant_params[axes["top_k"]] if "top_k" in axes else None,
        "batch": spec.batch,
        "hidden_size": spec.hidden_size,
        "device": str(device),
        "dtype": dtype_name(dtype),
        "seed": spec.seed,
        "train_steps": spec.train_steps,
    }
    training = {k: getattr(spec, k) for k in ("train_batch", "optimizer", "lr", "clip", "eval_batches")}
    key = {**config, **(training if spec.train_steps else {})}
    return {
        "point_id": point_id(key),
        "label": variant_label(variant_cls.name, spec.variant_params, variant_params),
        **config,
    }


__all__ = [
    "DTYPES",
    "MeasureSpec",
    "config_columns",
    "dtype_name",
    "point_id",
    "resolve_device",
    "resolve_dtype",
    "variant_label",
]
