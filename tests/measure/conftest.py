"""Fixtures of the measurement tests: a tiny copy-like task and a fake NVML with a fake CUDA device."""

from __future__ import annotations

import sys
import time
import types

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.measure import _device
from attnbench.params import Param
from attnbench.tasks import TASKS
from attnbench.tasks.base import Task


class TinyCopy(Task):
    """Remember the first of T one-hot codes (0..3) and emit it at the last step; blanks elsewhere."""

    name = "tiny_copy"
    description = "test task: recall the first code at the last step"
    params = (Param("seq_len", 8, int, low=2, axis="seq_len", help="total length"),)
    metric = "accuracy"
    higher_is_better = True

    input_size = 4
    output_size = 4
    chance = 0.25

    @property
    def seq_len(self) -> int:  # type: ignore[override]
        return self.config["seq_len"]

    def sample(self, batch_size, generator, device=None, split="train"):
        codes = torch.randint(0, 4, (batch_size, self.seq_len), generator=generator)
        y = torch.zeros_like(codes)
        y[:, -1] = codes[:, 0]
        return F.one_hot(codes, 4).float().to(device or "cpu"), y.to(device or "cpu")

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def score(self, logits: Tensor, y: Tensor) -> float:
        return (logits[:, -1].argmax(-1) == y[:, -1]).float().mean().item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits[:, -1], y[:, -1])


@pytest.fixture
def tiny_task(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register :class:`TinyCopy` as ``tiny_copy`` for one test; return its name."""
    TASKS.load_plugins()
    monkeypatch.setitem(TASKS._items, TinyCopy.name, TinyCopy)
    monkeypatch.setitem(TASKS._origin, TinyCopy.name, "tests")
    return TinyCopy.name


class FakeNVMLError(Exception):
    """Stands in for pynvml.NVMLError."""


def make_fake_pynvml(watts: float = 100.0, energy: bool = True, used: int = 3 << 30) -> types.ModuleType:
    """A pynvml whose energy counter rises at ``watts`` with wall time (mJ, as NVML reports it)."""
    lib = types.ModuleType("pynvml")
    lib.NVMLError = FakeNVMLError
    lib.calls = []
    lib.nvmlInit = lambda: lib.calls.append("init")
    lib.nvmlDeviceGetHandleByUUID = lambda uuid: ("handle", uuid)
    lib.nvmlDeviceGetHandleByIndex = lambda index: ("handle", index)
    lib.nvmlSystemGetDriverVersion = lambda: b"550.54.15"
    lib.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(
        total=80 << 30, used=used, free=(80 << 30) - used
    )

    def energy_counter(handle: object) -> int:
        if not energy:
            raise FakeNVMLError("Not Supported")
        return int(time.perf_counter() * watts * 1000)

    lib.nvmlDeviceGetTotalEnergyConsumption = energy_counter
    return lib


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch):
    """A fake pynvml and a CUDA runtime that claims one device; returns a function installing the pynvml."""
    props = types.SimpleNamespace(uuid="1234abcd-0000-0000-0000-000000000000", name="Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: props.name)

    def install(lib: types.ModuleType | None) -> types.ModuleType | None:
        if lib is None:
            monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if not installed
        else:
            monkeypatch.setitem(sys.modules, "pynvml", lib)
        _device.reset()
        return lib

    yield install
    _device.reset()
