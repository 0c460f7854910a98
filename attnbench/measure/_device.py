"""Device helpers shared by the measurement modules: the "cannot be measured here" signal, CUDA
synchronisation, and NVML access through the nvidia-ml-py package (``import pynvml``), failing softly.

Every NVML helper raises :class:`Unavailable` with the reason when NVML cannot answer: the package is
not installed, ``nvmlInit`` fails (no driver, no GPU), the device cannot be found, or the query is not
supported on this GPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch


class Unavailable(Exception):
    """A figure cannot be had on this machine or device; ``str(exc)`` is the reason recorded in ``missing``."""


def is_cuda(device: torch.device | str) -> bool:
    """Whether ``device`` is a CUDA device."""
    return torch.device(device).type == "cuda"


def synchronize(device: torch.device | str) -> None:
    """Wait for the work queued on ``device`` (a no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----- NVML ---------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}  # "module" or "reason", once per process


def nvml() -> Any:
    """The initialised ``pynvml`` module."""
    if "module" in _STATE:
        return _STATE["module"]
    if "reason" in _STATE:
        raise Unavailable(_STATE["reason"])
    try:
        import pynvml
    except ImportError as exc:
        _STATE["reason"] = f"pynvml (package nvidia-ml-py) is not installed: {exc}"
        raise Unavailable(_STATE["reason"]) from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError and its many subclasses, or a missing libnvidia-ml
        _STATE["reason"] = f"NVML init failed: {_describe(exc)}"
        raise Unavailable(_STATE["reason"]) from None
    _STATE["module"] = pynvml
    return pynvml


def reset() -> None:
    """Forget the cached NVML state (tests swap in a fake pynvml)."""
    _STATE.clear()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.decode() if isinstance(text, bytes) else text


def handle(device: torch.device | str) -> Any:
    """The NVML handle of CUDA ``device``, matched by UUID, then PCI bus id, then index."""
    device = torch.device(device)
    if device.type != "cuda":
        raise Unavailable(f"no GPU: measured on {device}")
    lib = nvml()
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    uuid = str(getattr(props, "uuid", "") or "")
    if uuid:
        try:
            return lib.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
        except Exception:
            pass
    if hasattr(props, "pci_bus_id"):
        bus = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
        try:
            return lib.nvmlDeviceGetHandleByPciBusId(bus)
        except Exception:
            pass
    if not os.environ.get("CUDA_VISIBLE_DEVICES"):  # torch and NVML number devices alike only then
        try:
            return lib.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:
            raise Unavailable(f"NVML cannot find {device}: {_describe(exc)}") from None
    raise Unavailable(f"NVML cannot find {device} (no UUID or PCI match with CUDA_VISIBLE_DEVICES set)")


def query(what: str, fn_name: str, *args: Any) -> Any:
    """Call ``pynvml.<fn_name>(*args)``; :class:`Unavailable` naming ``what`` if NVML refuses."""
    lib = nvml()
    try:
        return getattr(lib, fn_name)(*args)
    except Exception as exc:
        raise Unavailable(f"NVML {fn_name} failed ({what}): {_describe(exc)}") from None


def text(value: Any) -> str:
    """NVML strings are bytes in old pynvml releases."""
    return value.decode() if isinstance(value, bytes) else str(value)
