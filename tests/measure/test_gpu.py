"""The GPU paths on a real GPU: CUDA peaks, NVML memory and energy, cuDNN FLOPs. Skipped without CUDA."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from attnbench.config import Options, Point
from attnbench.measure import measure
from attnbench.measure.flops import count_flops
from attnbench.measure.timing import time_fn

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_measure_on_a_gpu_fills_the_gpu_columns(tiny_task: str) -> None:
    point = Point.make("rsm", tiny_task, seq_len=32, batch=8, hidden_size=32, device="cuda")
    row = measure(point, Options(repeats=5))
    missing = json.loads(row["missing"])
    assert row["device"].startswith("cuda:") and row["gpu_name"]
    assert 0 < row["cuda_peak_allocated_bytes"] <= row["cuda_peak_reserved_bytes"]
    assert row["nvml_used_bytes"] is not None or "nvml_used_bytes" in missing
    if row["nvml_used_bytes"] is not None:
        assert row["nvml_used_bytes"] >= row["cuda_peak_reserved_bytes"]
        assert row["gpu_driver"]
    if row["energy_j"] is not None:
        assert row["energy_j"] > 0 and 1 < row["power_w"] < 2000
    else:
        assert missing["energy_j"]
    assert row["flops_fwd"] == pytest.approx(row["flops_fwd_analytic"], rel=0.02)
    assert row["flops_bwd"] == pytest.approx(row["flops_bwd_analytic"], rel=0.02)


def test_cudnn_lstm_is_counted() -> None:
    b, t, i, h = 4, 9, 5, 16
    rnn = nn.LSTM(i, h, batch_first=True).cuda()
    x = torch.randn(b, t, i, device="cuda")
    count, by_op = count_flops(lambda: rnn(x)[0], lambda out: out.sum().backward())
    assert count.forward == 8 * b * t * h * (i + h), by_op
    assert count.backward == 2 * count.forward, by_op


def test_timer_waits_for_the_kernels() -> None:
    a = torch.randn(4096, 4096, device="cuda")
    m = time_fn(lambda: [a @ a for _ in range(20)], repeats=3, warmup=1, device="cuda")
    # 20 products of 2 * 4096^3 FLOPs take milliseconds even at 1 PFLOP/s; queueing them takes ~0.2 ms
    assert m.median > 20 * 2 * 4096**3 / 1e15
