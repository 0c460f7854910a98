"""The asv grid: variant x sequence length x memory size x top-k, chosen by ATTNBENCH_ASV_GRID.

``cpu`` (default) is small enough for `asv run --quick` on a 2-core CI runner; ``gpu`` is the grid for
GPU runners (set ATTNBENCH_ASV_GRID=gpu in their environment; no code change). The variants are every
installed one, plugins included, or those named in ATTNBENCH_ASV_VARIANTS. Parameter values are
strings: the sequence length is the total input length, and ``"none"`` is "this axis does not apply"
(or, for a parameter that accepts none, its none: SAB's unbounded memory).

The last parameter, ``threads``, is the number of CPU threads every benchmark runs with
(ATTNBENCH_ASV_THREADS, default 1; see benchmarks/__init__.py): a parameter of one value, so that asv's
results say how many threads their figures were measured with.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks import THREADS


def _variants() -> list[str]:
    """ATTNBENCH_ASV_VARIANTS (comma-separated), else every installed variant, plugins included."""
    chosen = os.environ.get("ATTNBENCH_ASV_VARIANTS")
    if chosen:
        return [v.strip() for v in chosen.split(",") if v.strip()]
    from attnbench.variants import list_variants

    return list_variants()


GRIDS: dict[str, dict[str, Any]] = {
    "cpu": {
        "variant": _variants(),
        "seq_len": ["40", "120"],
        "memory": ["none", "8"],
        "top_k": ["none", "4"],
        "batch": 8,
        "hidden_size": 32,
        "device": "cpu",
        # bench_accuracy.py: digits (64 steps), Adam, mean over the seeds (CPU: ~40 s per seed, all 4 built-ins)
        "accuracy": {"steps": 150, "batch": 32, "hidden_size": 32, "lr": 0.01, "seeds": [0, 1]},
    },
    "gpu": {
        "variant": _variants(),
        "seq_len": ["120", "520", "1020"],
        "memory": ["none", "16", "64"],
        "top_k": ["none", "5", "10"],
        "batch": 32,
        "hidden_size": 128,
        "device": "cuda",
        "accuracy": {"steps": 1000, "batch": 32, "hidden_size": 128, "lr": 0.003, "seeds": [0, 1, 2]},
    },
}
NAME = os.environ.get("ATTNBENCH_ASV_GRID", "cpu")
if NAME not in GRIDS:
    raise ValueError(f"ATTNBENCH_ASV_GRID={NAME!r} is not a grid; expected one of {', '.join(GRIDS)}")
GRID = GRIDS[NAME]
TASK = "copy"  # its length parameter is the delay T; the input is T + 20 steps
COPY_OVERHEAD = 20
GRID["task"] = [TASK]  # a parameter of one value: asv's results then say which task was measured
GRID["threads"] = [str(THREADS)]  # likewise: the threads the figures were measured with
PARAM_NAMES = ["variant", "seq_len", "memory", "top_k", "task", "threads"]
PARAMS = [GRID[name] for name in PARAM_NAMES]


def configuration(
    variant: str, seq_len: str, memory: str, top_k: str, task: str = TASK, threads: str = ""
) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """(variant parameters, task parameters) of a grid point, or why the point does not exist.

    ``seq_len`` is the total input length: copy's delay is 20 steps less; a task without a length
    parameter (digits: 64 steps) takes its own. ``threads`` does not change the configuration.
    """
    from attnbench.params import ParameterError, axis_params
    from attnbench.variants import get_variant

    cls = get_variant(variant)
    axes = axis_params(cls.params)
    params: dict[str, Any] = {}
    for axis, value in (("memory", memory), ("top_k", top_k)):
        if axis in axes:
            params[axes[axis]] = value
        elif value != "none":
            return f"{variant} has no {axis} parameter"
    try:
        params = cls.resolve(params)
    except ParameterError as exc:
        return str(exc)
    total = int(seq_len)
    reason = cls.skip(total, **params)
    if reason:
        return reason
    return params, ({"seq_len": total - COPY_OVERHEAD} if task == "copy" else {})


def valid_points() -> list[tuple[str, ...]]:
    """Every grid point that exists."""
    import itertools

    return [p for p in itertools.product(*PARAMS) if not isinstance(configuration(*p), str)]


def invalid_points() -> list[tuple[str, ...]]:
    """Grid points asv must skip (an axis that does not apply, a combination that makes no sense)."""
    import itertools

    return [p for p in itertools.product(*PARAMS) if isinstance(configuration(*p), str)]
