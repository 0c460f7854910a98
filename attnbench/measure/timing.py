"""Wall-time samples of a callable: warm-up, device synchronisation, and statistics derived from samples.

One call of the timed function is one sample. On CUDA the device is synchronised before the clock
starts and after the call returns, so a sample holds the kernels it queued and nothing queued before
it; on CPU ``time.perf_counter`` alone is exact. Garbage collection is paused while sampling (as in
``timeit``) so that no collection lands in one sample (no full collection first: it costs
~0.1 s with torch loaded, more than many whole measurements). As in
``torch.utils.benchmark``, only the raw samples are stored; median, IQR and the noisy flag are derived.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnbench.measure._device import is_cuda

NOISY_IQR_RATIO = 0.10  # IQR/median above this flags the measurement as noisy


@dataclass(frozen=True)
class Measurement:
    """Raw timing samples (seconds) of one callable; statistics are derived from them."""

    samples: tuple[float, ...]
    label: str = ""

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.samples)

    @property
    def median(self) -> float:
        """Median sample (s)."""
        return statistics.median(self.samples)

    @property
    def iqr(self) -> float:
        """Interquartile range (s): 75th minus 25th percentile (linear interpolation); 0 for one sample."""
        if self.n < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q3 - q1

    @property
    def noisy(self) -> bool:
        """Whether IQR/median exceeds :data:`NOISY_IQR_RATIO`."""
        return self.iqr > NOISY_IQR_RATIO * self.median

    def columns(self, prefix: str) -> dict[str, float | int | bool]:
        """The schema columns ``<prefix>_s``, ``_iqr_s``, ``_n`` and ``_noisy``."""
        return {
            f"{prefix}_s": self.median,
            f"{prefix}_iqr_s": self.iqr,
            f"{prefix}_n": self.n,
            f"{prefix}_noisy": self.noisy,
        }


def time_fn(
    fn: Callable[[], object],
    *,
    repeats: int = 10,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    label: str = "",
) -> Measurement:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed, one sample per call.

    Raises:
        ValueError: ``repeats`` < 1 or ``warmup`` < 0.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    cuda = is_cuda(device)
    dev = torch.device(device)
    for _ in range(warmup):
        fn()
    clock = time.perf_counter
    samples = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if cuda:
            sync = torch.cuda.synchronize
            for _ in range(repeats):
                sync(dev)
                start = clock()
                fn()
                sync(dev)
                samples.append(clock() - start)
        else:
            for _ in range(repeats):
                start = clock()
                fn()
                samples.append(clock() - start)
    finally:
        if was_enabled:
            gc.enable()
    return Measurement(tuple(samples), label)


__all__ = ["NOISY_IQR_RATIO", "Measurement", "time_fn"]
