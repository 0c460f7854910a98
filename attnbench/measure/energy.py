"""GPU energy per training step from NVML's total-energy counter, and the average power.

``nvmlDeviceGetTotalEnergyConsumption`` counts millijoules since the driver loaded (Volta and newer)
but updates only every 20-100 ms, so the window must be long: steps run in growing batches, with a
device synchronise before each reading, until the window lasts at least ``min_window_s`` (default
1 s, ten or more counter updates) and at least ``min_steps`` steps have run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnbench.measure import _device
from attnbench.measure._device import Unavailable, is_cuda, synchronize

MIN_WINDOW_S = 1.0


@dataclass(frozen=True)
class EnergyReading:
    """Energy counted over a window of ``steps`` calls lasting ``seconds``."""

    joules: float
    seconds: float
    steps: int

    @property
    def joules_per_step(self) -> float:
        """Energy of one step (J)."""
        return self.joules / self.steps

    @property
    def watts(self) -> float:
        """Average power over the window (W)."""
        return self.joules / self.seconds


def read_energy_mj(handle: object) -> int:
    """The device's total-energy counter (mJ); :class:`Unavailable` if the GPU does not have one."""
    return int(_device.query("total energy counter", "nvmlDeviceGetTotalEnergyConsumption", handle))


def measure_energy(
    step: Callable[[], object],
    device: torch.device | str,
    *,
    min_window_s: float = MIN_WINDOW_S,
    min_steps: int = 10,
    max_steps: int = 1_000_000,
) -> EnergyReading:
    """Run ``step`` until the window is at least ``min_window_s`` and ``min_steps`` steps long, and
    return the energy NVML counted over it.

    Raises:
        Unavailable: not a CUDA device, no NVML, no energy counter, or a counter that did not move.
    """
    if not is_cuda(device):
        raise Unavailable(f"no GPU energy counter: measured on {device} (NVML energy needs an NVIDIA GPU)")
    if not torch.cuda.is_available():
        raise Unavailable("CUDA is not available")
    handle = _device.handle(device)
    clock = time.perf_counter
    synchronize(device)
    start_mj = read_energy_mj(handle)
    start = clock()
    steps, batch, elapsed = 0, 1, 0.0
    while steps < max_steps and (elapsed < min_window_s or steps < min_steps):
        for _ in range(batch):
            step()
        steps += batch
        synchronize(device)
        elapsed = clock() - start
        batch = min(batch * 2, max_steps - steps) if elapsed < min_window_s / 2 else max(1, batch)
    end_mj = read_energy_mj(handle)
    if end_mj <= start_mj:
        raise Unavailable(f"NVML energy counter did not advance over {elapsed:.3f} s ({start_mj} -> {end_mj} mJ)")
    return EnergyReading((end_mj - start_mj) / 1000.0, elapsed, steps)


__all__ = ["MIN_WINDOW_S", "EnergyReading", "measure_energy", "read_energy_mj"]
