"""Memory figures: bytes autograd saves for backward, peak RSS, CUDA allocator peaks and NVML usage.

``saved_bytes`` is device independent: it counts, through ``torch.autograd.graph.saved_tensors_hooks``,
the distinct storages that the autograd graph of a call keeps for backward. Distinct storages, not
saved tensors: the attention variants save views of one shared state buffer many times, and a view
costs nothing beyond its storage. Parameters and inputs are excluded (they are held anyway).
"""

from __future__ import annotations

import resource
import sys
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil
import torch
from torch import Tensor

from attnbench.measure import _device
from attnbench.measure._device import Unavailable, is_cuda

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _storage_key(t: Tensor) -> tuple[str, int, int]:
    """(device, address, bytes) of the storage behind ``t``."""
    try:
        storage = t.untyped_storage()
        return str(t.device), storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):  # sparse or other storage-less layouts
        return str(t.device), id(t), t.numel() * t.element_size()


class SavedTensorLedger:
    """Context manager that records every tensor autograd saves for backward while it is active.

    Tensors are held weakly; :attr:`total_bytes` sums the distinct storages of those still alive
    (kept by the graph or elsewhere) when it is read, leaving out the storages of ``exclude``.
    """

    def __init__(self, exclude: Iterable[Tensor] = ()) -> None:
        self._exclude = {_storage_key(t)[:2] for t in exclude}
        self._saved: list[weakref.ref[Tensor]] = []
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack)

    def _pack(self, t: Tensor) -> Tensor:
        self._saved.append(weakref.ref(t))
        return t  # autograd keeps this very object, so the weak reference lives as long as the graph

    def __enter__(self) -> SavedTensorLedger:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)

    @property
    def count(self) -> int:
        """Saved tensors still alive (views of one storage counted separately)."""
        return sum(1 for ref in self._saved if ref() is not None)

    @property
    def total_bytes(self) -> int:
        """Bytes of the distinct storages saved and still alive, excluded ones left out."""
        storages: dict[tuple[str, int], int] = {}
        for ref in self._saved:
            t = ref()
            if t is None:
                continue
            device, address, nbytes = _storage_key(t)
            if (device, address) not in self._exclude:
                storages[(device, address)] = max(nbytes, storages.get((device, address), 0))
        return sum(storages.values())


def _unpack(t: Tensor) -> Tensor:
    return t


def saved_bytes(fn: Callable[[], Any], exclude: Iterable[Tensor] = ()) -> int:
    """Bytes autograd keeps for backward after ``fn()`` (distinct storages, ``exclude`` left out).

    The result of ``fn`` is held until the count is taken, so its graph is alive while counting.
    """
    with SavedTensorLedger(exclude) as ledger:
        out = fn()
    total = ledger.total_bytes
    del out
    return total


# ----- process RSS --------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux: ``/proc/self/clear_refs``).

    Returns whether it was reset; if not, :func:`peak_rss_bytes` is the peak since the process began.
    """
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set size of this process in bytes.

    Linux: ``VmHWM`` (resettable with :func:`reset_peak_rss`); Windows: psutil's peak working set;
    elsewhere ``getrusage`` ``ru_maxrss``. Never below the current RSS (psutil).
    """
    current = psutil.Process().memory_info()
    peak = getattr(current, "peak_wset", None)
    if peak is None:
        peak = _vm_hwm()
    if peak is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB elsewhere
    return max(int(peak), int(current.rss))


def _vm_hwm() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# ----- CUDA and NVML ------------------------------------------------------------------------------


def reset_cuda_peaks(device: torch.device | str) -> None:
    """Reset torch's CUDA peak-memory statistics of ``device`` (no-op elsewhere)."""
    if is_cuda(device) and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks(device: torch.device | str) -> tuple[int, int]:
    """(peak allocated, peak reserved) bytes on ``device`` since :func:`reset_cuda_peaks`."""
    if not is_cuda(device):
        raise Unavailable(f"no CUDA device: measured on {device}")
    if not torch.cuda.is_available():
        raise Unavailable("CUDA is not available")
    return torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)


def nvml_used_bytes(device: torch.device | str) -> int:
    """Memory in use on the GPU of ``device`` per NVML (all processes, context and caches included)."""
    info = _device.query("memory info", "nvmlDeviceGetMemoryInfo", _device.handle(device))
    return int(info.used)


__all__ = [
    "SavedTensorLedger",
    "cuda_peaks",
    "nvml_used_bytes",
    "peak_rss_bytes",
    "reset_cuda_peaks",
    "reset_peak_rss",
    "saved_bytes",
]
