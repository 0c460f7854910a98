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

from benchmarks.grid import GRID, PARAM_NAMES, PARAMS, configuration, invalid_points, valid_points

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
        from attnbench.tasks import build_task
        from attnbench.variants import build_variant

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
        from attnbench.measure import MeasureSpec, measure

        rows = {}
        for point in valid_points():
            params, task_params = configuration(*point)
            spec = MeasureSpec(
                variant=point[0], task=point[4], variant_params=params, task_params=task_params, batch=GRID["batch"],
                hidden_size=GRID["hidden_size"], device=str(_device()), warmup=1, repeats=3,
                train_steps=GRID["train_steps"], train_batch=32, seed=0,
            )  # fmt: skip
            rows["|".join(point)] = measure(spec)
        return rows

    def setup(self, rows: dict, variant: str, seq_len: str, memory: str, top_k: str, task: str) -> None:
        key = "|".join((variant, seq_len, memory, top_k, task))
        if key not in rows:
            raise NotImplementedError(str(configuration(variant, seq_len, memory, top_k, task)))
        self.row = rows[key]

    def _metric(self, column: str) -> float:
        value = self.row.get(column)
        if value is None:
            raise SkipNotImplemented(f"{column} not measured on {self.row.get('device')}")
        return float(value)

    @skip_for_params(INVALID)
    def track_flops_fwd(self, rows: dict, *point: str) -> float:
        return self._metric("flops_fwd")

    @skip_for_params(INVALID)
    def track_flops_bwd(self, rows: dict, *point: str) -> float:
        return self._metric("flops_bwd")

    @skip_for_params(INVALID)
    def track_saved_bytes(self, rows: dict, *point: str) -> float:
        return self._metric("saved_bytes")

    @skip_for_params(INVALID)
    def track_score(self, rows: dict, *point: str) -> float:
        return self._metric("score")

    @skip_for_params(INVALID)
    def track_final_loss(self, rows: dict, *point: str) -> float:
        return self._metric("final_loss")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_cuda_peak_allocated_bytes(self, rows: dict, *point: str) -> float:
        return self._metric("cuda_peak_allocated_bytes")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_nvml_used_bytes(self, rows: dict, *point: str) -> float:
        return self._metric("nvml_used_bytes")

    @skip_benchmark_if(NO_CUDA)
    @skip_for_params(INVALID)
    def track_energy_j(self, rows: dict, *point: str) -> float:
        return self._metric("energy_j")

    track_flops_fwd.unit = "FLOP"
    track_flops_bwd.unit = "FLOP"
    track_saved_bytes.unit = "bytes"
    track_score.unit = "accuracy"
    track_final_loss.unit = "loss"
    track_cuda_peak_allocated_bytes.unit = "bytes"
    track_nvml_used_bytes.unit = "bytes"
    track_energy_j.unit = "J"
