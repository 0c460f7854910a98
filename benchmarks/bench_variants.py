"""asv benchmarks of every built-in variant over the grid of benchmarks/grid.py.

* ``Step``: asv's own timers and peak-memory probe around a forward pass and a training step
  (forward, loss, backward), device-synchronised.
* ``Track``: every other cost figure of a configuration (FLOPs, bytes saved for backward, CUDA and
  NVML memory, energy) from ONE attnbench measurement per configuration, made by the first ``track_``
  process of that configuration and read back by the others (benchmarks/cache.py): nothing is measured
  twice, and a run filtered with ``-b`` measures only what it selects. A figure the device cannot give
  (CUDA memory on a CPU, say) is skipped through asv's skip mechanism, never reported as 0.

Accuracy after training is in bench_accuracy.py. Every benchmark runs with the threads of
benchmarks/__init__.py (the ``threads`` parameter).
"""

from __future__ import annotations

import torch
from asv_runner.benchmarks.mark import SkipNotImplemented, skip_benchmark_if, skip_for_params

from benchmarks import pin_threads
from benchmarks.cache import cache_folder, cached
from benchmarks.grid import GRID, PARAM_NAMES, PARAMS, configuration, invalid_points

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

    def setup(self, variant: str, seq_len: str, memory: str, top_k: str, task: str, threads: str) -> None:
        from attnbench.tasks import build_task
        from attnbench.variants import build_variant

        pin_threads()
        config = configuration(variant, seq_len, memory, top_k, task)
        if isinstance(config, str):
            raise NotImplementedError(config)
        params, task_params = config
        self.device = _device()
        torch.manual_seed(0)
        self.task = build_task(task, **task_params)
        shape = self.task.input_size, self.task.output_size, GRID["hidden_size"]
        self.model = build_variant(variant, *shape, **params)
        self.model.to(self.device)
        self.x, self.y = self.task.sample(GRID["batch"], torch.Generator().manual_seed(0), self.device)
        self.step()  # warm-up: allocator, kernels, oneDNN primitives

    def step(self) -> None:
        self.model.zero_grad(set_to_none=True)
        self.task.loss(self.model(self.x).logits, self.y).backward()
        _sync(self.device)

    @skip_for_params(INVALID)
    def time_forward(self, variant: str, seq_len: str, memory: str, top_k: str, task: str, threads: str) -> None:
        self.model(self.x)
        _sync(self.device)

    @skip_for_params(INVALID)
    def time_step(self, variant: str, seq_len: str, memory: str, top_k: str, task: str, threads: str) -> None:
        self.step()

    @skip_for_params(INVALID)
    def peakmem_step(self, variant: str, seq_len: str, memory: str, top_k: str, task: str, threads: str) -> None:
        self.step()


class Track:
    """Every non-timing cost figure of each configuration, from one measurement per configuration."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 900

    def setup_cache(self) -> str:
        """The folder the per-configuration measurements are cached in (nothing is measured here)."""
        return cache_folder()

    def setup(self, folder: str, *point: str) -> None:
        config = configuration(*point)
        if isinstance(config, str):
            raise NotImplementedError(config)
        pin_threads()
        self.row = cached(folder, point, lambda: _measure(point, *config))

    def _metric(self, column: str) -> float:
        value = self.row.get(column)
        if value is None:
            raise SkipNotImplemented(f"{column} not measured on {self.row.get('device')}")
        return float(value)

    @skip_for_params(INVALID)
    def track_flops_fwd(self, folder: str, *point: str) -> float:
        return self._metric("flops_fwd")

    @skip_for_params(INVALID)
    def track_flops_bwd(self, folder: str, *point: str) -> float:
        return self._metric("flops_bwd")

    @skip_for_params(INVALID)
    def track_saved_bytes(self, folder: str, *point: str) -> float:
        return self._metric("saved_bytes")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_cuda_peak_allocated_bytes(self, folder: str, *point: str) -> float:
        return self._metric("cuda_peak_allocated_bytes")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_nvml_used_bytes(self, folder: str, *point: str) -> float:
        return self._metric("nvml_used_bytes")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_energy_j(self, folder: str, *point: str) -> float:
        return self._metric("energy_j")

    track_flops_fwd.unit = "FLOP"
    track_flops_bwd.unit = "FLOP"
    track_saved_bytes.unit = "bytes"
    track_cuda_peak_allocated_bytes.unit = "bytes"
    track_nvml_used_bytes.unit = "bytes"
    track_energy_j.unit = "J"


def _measure(point: tuple[str, ...], params: dict, task_params: dict) -> dict:
    """The cost figures of one configuration (no training run, no gradient reach: asv tracks neither here)."""
    from attnbench.measure import MeasureSpec, measure

    spec = MeasureSpec(
        variant=point[0], task=point[4], variant_params=params, task_params=task_params, batch=GRID["batch"],
        hidden_size=GRID["hidden_size"], device=str(_device()), warmup=1, repeats=1, train_steps=0, reach=False,
    )  # fmt: skip
    return measure(spec)
