"""The timer: samples, warm-up, statistics, and a known sleep measured correctly."""

from __future__ import annotations

import time

import pytest
import torch

from attnbench.measure.timing import Measurement, time_fn


def test_known_sleep_is_measured() -> None:
    m = time_fn(lambda: time.sleep(0.02), repeats=5, warmup=1)
    assert m.n == 5
    assert all(s >= 0.02 for s in m.samples)  # sleep never returns early
    assert m.median < 0.02 + 0.015  # scheduling slack on a shared machine


def test_warmup_calls_are_not_timed() -> None:
    calls = []
    m = time_fn(lambda: calls.append(1), repeats=4, warmup=3)
    assert len(calls) == 7
    assert m.n == 4


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 1), (3, -1)])
def test_bad_counts_raise(repeats: int, warmup: int) -> None:
    with pytest.raises(ValueError, match="repeats"):
        time_fn(lambda: None, repeats=repeats, warmup=warmup)


def test_statistics_are_derived_from_samples() -> None:
    m = Measurement((1.0, 2.0, 3.0, 4.0, 100.0))
    assert m.median == 3.0
    assert m.iqr == pytest.approx(4.0 - 2.0)
    assert m.noisy
    quiet = Measurement((1.0, 1.01, 1.02, 0.99))
    assert not quiet.noisy
    assert Measurement((5.0,)).iqr == 0.0
    assert quiet.columns("fwd_time") == {
        "fwd_time_s": quiet.median,
        "fwd_time_iqr_s": quiet.iqr,
        "fwd_time_n": 4,
        "fwd_time_noisy": False,
    }


def test_cuda_path_synchronises_around_each_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    time_fn(lambda: events.append("call"), repeats=3, warmup=1, device="cuda:0")
    assert events == ["call"] + ["sync", "call", "sync"] * 3


def test_the_timer_costs_microseconds_per_sample() -> None:
    # the harness budget is 1.1x the raw steps; per sample the timer adds two clock reads and an append
    start = time.perf_counter()
    m = time_fn(lambda: None, repeats=2000, warmup=0)
    total = time.perf_counter() - start
    assert m.n == 2000
    assert total < 2000 * 50e-6  # generous for a shared machine; typically ~0.2 us per sample
