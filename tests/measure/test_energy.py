"""NVML energy: the arithmetic against a fake counter, and the reasons when it cannot be had."""

from __future__ import annotations

import time

import pytest

from attnbench.measure._device import Unavailable
from attnbench.measure.energy import EnergyReading, measure_energy
from tests.measure.conftest import make_fake_pynvml


def test_reading_arithmetic() -> None:
    r = EnergyReading(joules=30.0, seconds=1.5, steps=60)
    assert r.joules_per_step == pytest.approx(0.5)
    assert r.watts == pytest.approx(20.0)


def test_energy_from_a_fake_counter(fake_gpu) -> None:
    fake_gpu(make_fake_pynvml(watts=250.0))
    calls = []

    def step() -> None:
        calls.append(1)
        time.sleep(0.002)

    reading = measure_energy(step, "cuda:0", min_window_s=0.1, min_steps=5)
    assert reading.steps == len(calls) >= 5
    assert reading.seconds >= 0.1
    assert reading.watts == pytest.approx(250.0, rel=0.1)  # the counter's mJ turned into W
    assert reading.joules_per_step == pytest.approx(reading.joules / reading.steps)
    assert reading.joules == pytest.approx(250.0 * reading.seconds, rel=0.1)


def test_min_steps_is_honoured(fake_gpu) -> None:
    fake_gpu(make_fake_pynvml())
    reading = measure_energy(lambda: time.sleep(0.001), "cuda:0", min_window_s=0.001, min_steps=20)
    assert reading.steps >= 20


def test_unsupported_counter_is_missing_with_a_reason(fake_gpu) -> None:
    fake_gpu(make_fake_pynvml(energy=False))
    with pytest.raises(Unavailable, match=r"total energy counter.*Not Supported"):
        measure_energy(lambda: None, "cuda:0", min_window_s=0.01)


def test_a_counter_that_does_not_move_is_missing(fake_gpu) -> None:
    lib = make_fake_pynvml()
    lib.nvmlDeviceGetTotalEnergyConsumption = lambda handle: 123456
    fake_gpu(lib)
    with pytest.raises(Unavailable, match="did not advance"):
        measure_energy(lambda: None, "cuda:0", min_window_s=0.01)


def test_no_nvml_is_missing_with_a_reason(fake_gpu) -> None:
    fake_gpu(None)
    with pytest.raises(Unavailable, match="nvidia-ml-py"):
        measure_energy(lambda: None, "cuda:0", min_window_s=0.01)


def test_cpu_has_no_energy_counter() -> None:
    with pytest.raises(Unavailable, match="measured on cpu"):
        measure_energy(lambda: None, "cpu")
