"""Saved-for-backward bytes (distinct storages; dense quadratic, rsm linear), RSS, CUDA and NVML memory."""

from __future__ import annotations

import numpy as np
import psutil
import pytest
import torch

from attnbench.measure import memory
from attnbench.measure._device import Unavailable
from attnbench.variants import build_variant
from tests.measure.conftest import FakeNVMLError, make_fake_pynvml


def test_a_storage_saved_many_times_counts_once() -> None:
    w = torch.randn(256, requires_grad=True)
    x = torch.randn(256)
    with memory.SavedTensorLedger(exclude=[w]) as ledger:
        y = sum((x * w) for _ in range(5)) + (w * w).sum()  # x * w saves x; w * w saves w twice
    assert ledger.count == 7
    assert ledger.total_bytes == 256 * 4  # x once; w excluded
    views = torch.randn(4, 64)
    with memory.SavedTensorLedger(exclude=[w]) as ledger:
        z = sum(views[i] * w[:64] for i in range(4))  # four views of one storage
    assert ledger.total_bytes == 4 * 64 * 4
    del y, z


def test_saved_bytes_counts_what_the_graph_keeps() -> None:
    w = torch.randn(100, 100, requires_grad=True)
    x = torch.randn(8, 100)
    # x @ w saves x (w is excluded); tanh saves its output (8 x 100)
    assert memory.saved_bytes(lambda: torch.tanh(x @ w), exclude=[w]) == 2 * 8 * 100 * 4
    with torch.no_grad():
        assert memory.saved_bytes(lambda: torch.tanh(x @ w)) == 0


def _exponent(name: str, lengths: list[int], hidden: int = 4, batch: int = 1) -> float:
    torch.manual_seed(0)
    model = build_variant(name, 3, 2, hidden)
    sizes = []
    for t in lengths:
        x = torch.randn(batch, t, 3)
        sizes.append(memory.saved_bytes(lambda x=x: model(x).logits, exclude=[*model.parameters(), x]))
    return float(np.polyfit(np.log(lengths), np.log(sizes), 1)[0])


LENGTHS = [256, 512, 1024, 2048]


def test_dense_saved_bytes_grow_quadratically() -> None:
    # O(T^2) attention weights on top of O(T H) states: the fitted exponent nears 2 as T grows
    assert 1.7 <= _exponent("dense", LENGTHS) <= 2.1


def test_rsm_saved_bytes_grow_linearly() -> None:
    assert 0.85 <= _exponent("rsm", LENGTHS) <= 1.15


def test_peak_rss_is_at_least_the_current_rss() -> None:
    memory.reset_peak_rss()
    block = bytearray(64 << 20)  # touch 64 MiB
    block[::4096] = b"x" * len(block[::4096])
    peak = memory.peak_rss_bytes()
    assert peak >= psutil.Process().memory_info().rss
    assert peak >= 64 << 20
    del block


def test_cuda_figures_on_cpu_are_missing_with_a_reason() -> None:
    with pytest.raises(Unavailable, match="no CUDA device"):
        memory.cuda_peaks("cpu")
    with pytest.raises(Unavailable, match="no GPU: measured on cpu"):
        memory.nvml_used_bytes("cpu")
    memory.reset_cuda_peaks("cpu")  # a no-op, not an error


def test_nvml_used_bytes_with_a_fake_nvml(fake_gpu) -> None:
    fake_gpu(make_fake_pynvml(used=5 << 30))
    assert memory.nvml_used_bytes("cuda:0") == 5 << 30


def test_nvml_not_installed_is_missing_with_a_reason(fake_gpu) -> None:
    fake_gpu(None)
    with pytest.raises(Unavailable, match="not installed"):
        memory.nvml_used_bytes("cuda:0")


def test_nvml_init_failure_is_missing_with_a_reason(fake_gpu) -> None:
    lib = make_fake_pynvml()

    def broken() -> None:
        raise FakeNVMLError("Driver Not Loaded")

    lib.nvmlInit = broken
    fake_gpu(lib)
    with pytest.raises(Unavailable, match="NVML init failed: Driver Not Loaded"):
        memory.nvml_used_bytes("cuda:0")
