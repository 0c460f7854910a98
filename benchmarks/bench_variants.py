"""asv benchmarks of every built-in variant over the grid of benchmarks/grid.py.

* ``Step``: asv's own timers and peak-memory probe around a forward pass and a training step
  (forward, loss, backward), device-synchronised.
* ``Track``: every other cost figure of a configuration (FLOPs, bytes saved for backward, CUDA and
  NVML memory, energy) from ONE attnbench measurement per configuration, made by the first ``track_``
  process of that configuration and read back by the others (benchmarks/cache.py): nothing is measured
  twice, and a run filtered with ``-b`` measures only what it selects. A figure the device cannot give
  (CUDA memory on a CPU, say) is skipped through asv's skip mechanism, never reported as 0. The
  ``track_`` methods are made from the metrics declared with ``asv=True`` in attnbench.metrics.

Accuracy after training is in bench_accuracy.py. Every benchmark runs with the threads of
benchmarks/__init__.py (the ``threads`` parameter).
"""

from __future__ import annotations

import torch
from asv_runner.benchmarks.mark import SkipNotImplemented, skip_benchmark_if, skip_for_params

from attnbench.metrics import METRICS
from benchmarks import pin_threads
from benchmarks.cache import cache_folder, cached
from benchmarks.grid import GRID, PARAM_NAMES, PARAMS, invalid_points, options, point

NO_CUDA = GRID["device"] != "cuda" or not torch.cuda.is_available()  # CUDA-only figures are skipped
INVALID = invalid_points()


def _device() -> torch.device:
    return torch.device(GRID["device"] if GRID["device"] != "cuda" or torch.cuda.is_available() else "cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _point(*key: str):
    """The grid point's Point on the device this runner has; NotImplementedError (asv: skip) if there is none."""
    p = point(*key)
    if isinstance(p, str):
        raise NotImplementedError(p)
    return p.replace(device=str(_device()))


class Step:
    """Forward pass and training step of one configuration, timed and memory-probed by asv."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 600
    # asv's defaults (2 rounds of at most 5 samples of 10 ms) flagged identical code at 1.4x on a quiet
    # 2-core runner: more rounds, interleaved between the two commits of `asv continuous`, and longer
    # samples spread a transient disturbance over both sides. A round costs a few seconds of the suite.
    rounds = 4
    repeat = (3, 8, 10.0)
    sample_time = 0.025

    def setup(self, *key: str) -> None:
        pin_threads()
        p = _point(*key)
        self.device = _device()
        self.task = p.build_task()
        self.model = p.build_model(self.task)  # the builder measure() uses: seeded, on device
        self.x, self.y = self.task.sample(p.batch, torch.Generator().manual_seed(p.seed), self.device)
        self.step()  # warm-up: allocator, kernels, oneDNN primitives

    def step(self) -> None:
        self.model.zero_grad(set_to_none=True)
        self.task.loss(self.model(self.x).logits, self.y).backward()
        _sync(self.device)

    @skip_for_params(INVALID)
    def time_forward(self, *key: str) -> None:
        self.model(self.x)
        _sync(self.device)

    @skip_for_params(INVALID)
    def time_step(self, *key: str) -> None:
        self.step()

    @skip_for_params(INVALID)
    def peakmem_step(self, *key: str) -> None:
        self.step()


class Track:
    """Every non-timing cost figure of each configuration, from one measurement per configuration."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 900

    def setup_cache(self) -> str:
        """The folder the per-configuration measurements are cached in (nothing is measured here)."""
        return cache_folder()

    def setup(self, folder: str, *key: str) -> None:
        p = _point(*key)
        pin_threads()
        self.row = cached(folder, key, lambda: _measure(p))

    def _metric(self, column: str) -> float:
        value = self.row.get(column)
        if value is None:
            raise SkipNotImplemented(f"{column} not measured on {self.row.get('device')}")
        return float(value)


def _measure(p) -> dict:
    """The cost figures of one configuration (no training run, no gradient reach: see grid.options)."""
    from attnbench.measure import measure

    return measure(p, options())


def _track(metric):
    """A ``track_<metric>`` method of :class:`Track`, made from the metric's declaration."""

    def track(self: Track, folder: str, *key: str) -> float:
        return self._metric(metric.name)

    track.__name__ = f"track_{metric.name}"
    track.unit = metric.unit
    track = skip_for_params(INVALID)(track)
    if metric.device != "any":  # CUDA memory, NVML memory and energy: only where there is a CUDA device
        track = skip_benchmark_if(NO_CUDA)(track)
    return track


# One track_ benchmark per metric declared with asv=True (attnbench.metrics): a new metric needs no edit here.
for _m in METRICS:
    if _m.asv:
        setattr(Track, f"track_{_m.name}", _track(_m))
