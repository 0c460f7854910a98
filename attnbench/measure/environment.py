"""The environment columns of a result row: versions, commit, machine, GPU and threads."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from attnbench import __version__
from attnbench.measure import _device
from attnbench.measure._device import Unavailable, is_cuda
from attnbench.schema import SCHEMA_VERSION

PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def git_commit(source: Path = PACKAGE_DIR) -> str:
    """The commit checked out in the git work tree holding ``source``.

    Raises:
        Unavailable: not a git checkout (an installed wheel), or git is not installed.
    """
    try:
        top = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"git could not be run: {exc}") from None
    lines = top.stdout.split()
    if top.returncode != 0 or len(lines) != 2:
        raise Unavailable(f"attnbench source {source} is not in a git checkout")
    if not source.is_relative_to(Path(lines[0]).resolve()):
        raise Unavailable(f"attnbench source {source} is not in a git checkout")
    return lines[1]


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """Processor model name (``/proc/cpuinfo`` on Linux, sysctl on macOS, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5, check=False
            )
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def gpu_name(device: torch.device | str) -> str:
    """CUDA device name of ``device``."""
    if not is_cuda(device):
        raise Unavailable(f"no GPU: measured on {device}")
    if not torch.cuda.is_available():
        raise Unavailable("CUDA is not available")
    return torch.cuda.get_device_name(torch.device(device))


def gpu_driver(device: torch.device | str) -> str:
    """NVIDIA driver version per NVML."""
    if not is_cuda(device):
        raise Unavailable(f"no GPU: measured on {device}")
    return _device.text(_device.query("driver version", "nvmlSystemGetDriverVersion"))


def environment(device: torch.device | str) -> tuple[dict[str, Any], dict[str, str]]:
    """The schema's environment columns for a point measured on ``device``, and ``{column: reason}``
    for those that could not be had (their value is None)."""
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "attnbench_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cpu_model": cpu_model(),
        "threads": torch.get_num_threads(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    missing: dict[str, str] = {}
    if row["cuda_version"] is None:
        missing["cuda_version"] = "torch is a CPU-only build (torch.version.cuda is None)"
    for column, getter in (("git_commit", git_commit), ("gpu_name", gpu_name), ("gpu_driver", gpu_driver)):
        try:
            row[column] = getter() if column == "git_commit" else getter(device)
        except Unavailable as exc:
            row[column] = None
            missing[column] = str(exc)
    return row, missing


__all__ = ["cpu_model", "environment", "git_commit", "gpu_driver", "gpu_name"]
