"""The asv grid: variant x sequence length x memory size x top-k, chosen by ATTNBENCH_ASV_GRID.

``cpu`` (default) is small enough for `asv run --quick` on a 2-core CI runner; ``gpu`` is the grid for
GPU runners (set ATTNBENCH_ASV_GRID=gpu in their environment; no code change). The variants are every
installed one, plugins included, or those named in ATTNBENCH_ASV_VARIANTS. Parameter values are
strings: the sequence length is the total input length, and ``"none"`` is "this axis does not apply"
(or, for a parameter that accepts none, its none: SAB's unbounded memory).

The last parameter, ``threads``, is the number of CPU threads every benchmark runs with
(ATTNBENCH_ASV_THREADS, default 1; see benchmarks/__init__.py): a parameter of one value, so that asv's
results say how many threads their figures were measured with.

Each grid point is an :class:`attnbench.config.Point` measured with :func:`options`, the objects a
sweep measures, so asv rows get the label a sweep gives the same configuration.
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
# ATTNBENCH_ASV_TASKS (comma-separated) names the tasks; copy by default (its length parameter is the delay
# T). A parameter of one value still shows in asv's results, so they say which task was measured.
GRID["task"] = [t.strip() for t in os.environ.get("ATTNBENCH_ASV_TASKS", "copy").split(",") if t.strip()]
GRID["threads"] = [str(THREADS)]  # likewise: the threads the figures were measured with
PARAM_NAMES = ["variant", "seq_len", "memory", "top_k", "task", "threads"]
PARAMS = [GRID[name] for name in PARAM_NAMES]


def options():
    """How every grid point's costs are measured (attnbench.config.Options): no training run, no gradient
    reach (asv tracks accuracy in bench_accuracy.py, after a training run of its own)."""
    from attnbench.config import Options

    return Options(warmup=1, repeats=1, train_steps=0, reach=False)


def point(variant: str, seq_len: str, memory: str, top_k: str, task: str = "copy", threads: str = ""):
    """The attnbench.config.Point of a grid point, or why the point does not exist (a string).

    ``seq_len`` is the total input length; the task's length parameter is set to give it. An axis
    value other than "none" for an axis the variant has no parameter for makes no point. ``threads``
    does not change the configuration.
    """
    from attnbench.config import Point
    from attnbench.params import ParameterError, axis_params
    from attnbench.tasks import get_task
    from attnbench.variants import get_variant

    axes = axis_params(get_variant(variant).params)
    params = {}
    for axis, value in (("memory", memory), ("top_k", top_k)):
        if axis in axes:
            params[axes[axis]] = value
        elif value != "none":
            return f"{variant} has no {axis} parameter"
    total, task_cls = int(seq_len), get_task(task)
    name = task_cls.seq_len_param()
    task_params = {}
    if name is not None:  # the task's input is its length parameter plus a fixed overhead
        overhead = task_cls(**{name: total}).seq_len - total
        task_params[name] = total - overhead
    try:
        p = Point(variant, task, tuple(params.items()), tuple(task_params.items()), batch=GRID["batch"],
                  hidden_size=GRID["hidden_size"], device=GRID["device"], seed=0)  # fmt: skip
    except ParameterError as exc:
        return str(exc)
    if p.seq_len != total:
        return f"task {task} has no input of length {total}"
    return p.skip_reason or p


def invalid_points() -> list[tuple[str, ...]]:
    """Grid points asv must skip (an axis that does not apply, a combination that makes no sense)."""
    import itertools

    return [p for p in itertools.product(*PARAMS) if isinstance(point(*p), str)]
