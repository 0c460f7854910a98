"""asv benchmarks of every built-in variant over the grid of benchmarks/grid.py.

* ``Step``: asv's own timers and peak-memory probe around a forward pass and a training step
  (forward, loss, backward), device-synchronised.
* ``Track``: every other figure of a configuration (FLOPs, bytes saved for backward, CUDA and NVML
  memory, energy, accuracy after a short deterministic training run) from ONE attnbench measurement per
  configuration, made in ``setup_cache`` (once per environment and commit, in its own process) and
  read back by each ``track_`` method: nothing is trained or measured twice. A figure the device
  cannot give (CUDA memory on a CPU, say) is skipped through asv's skip mechanism, never reported as 0.
"""

from __future__ import annotations

import torch
from asv_runner.benchmarks.mark import SkipNotImplemented, skip_benchmark_if, skip_for_params

from attnbench.metrics import METRICS
from benchmarks.grid import GRID, PARAM_NAMES, PARAMS, invalid_points, options, point, valid_points

NO_CUDA = GRID["device"] != "cuda" or not torch.cuda.is_available()  # CUDA-only figures are skipped
INVALID = invalid_points()


def _device() -> torch.device:
    return torch.device(GRID["device"] if GRID["device"] != "cuda" or torch.cuda.is_available() else "cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Step:
    """Forward pass and training step of one configuration, timed and memory-probed by asv."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 600

    def setup(self, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        p = point(variant, seq_len, memory, top_k, task)
        if isinstance(p, str):
            raise NotImplementedError(p)
        p = p.replace(device=str(_device()))
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
    def time_forward(self, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        self.model(self.x)
        _sync(self.device)

    @skip_for_params(INVALID)
    def time_step(self, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        self.step()

    @skip_for_params(INVALID)
    def peakmem_step(self, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        self.step()


class Track:
    """Every non-timing figure of each configuration, from one measurement per configuration."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 3600

    def setup_cache(self) -> dict[str, dict]:
        """Measure every valid configuration once; asv hands the result to each track_ method."""
        from attnbench.measure import measure

        rows = {}
        for key in valid_points():
            rows["|".join(key)] = measure(point(*key).replace(device=str(_device())), options())
        return rows

    def setup(self, rows: dict, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        key = "|".join((variant, seq_len, memory, top_k, task))
        if key not in rows:
            raise NotImplementedError(str(point(variant, seq_len, memory, top_k, task)))
        self.row = rows[key]

    def _metric(self, column: str) -> float:
        value = self.row.get(column)
        if value is None:
            raise SkipNotImplemented(f"{column} not measured on {self.row.get('device')}")
        return float(value)


def _track(metric):
    """A ``track_<metric>`` method of :class:`Track`, made from the metric's declaration."""

    def track(self: Track, rows: dict, *point: str) -> float:
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
