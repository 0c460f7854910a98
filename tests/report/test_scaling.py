"""Fitted scaling exponents, declared exponents and the verdict that compares them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attnbench.report.scaling import (
    ABOVE_TOLERANCE,
    declared_exponents,
    expected_exponent,
    fit_exponent,
    fit_exponents,
    is_unbounded,
)


@pytest.mark.parametrize("power", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_fit_recovers_a_power_law(power):
    t = np.array([64, 128, 256, 512])
    assert fit_exponent(t, 3.0 * t**power) == pytest.approx(power)


def test_fit_needs_two_distinct_positive_lengths():
    assert fit_exponent([100, 100], [1.0, 2.0]) is None
    assert fit_exponent([100, 200], [1.0, 0.0]) is None  # a zero cost has no logarithm
    assert fit_exponent([100, 200, 400], [1.0, np.nan, 4.0]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("variant", "cost", "memory", "expected"),
    [
        ("lstm", "step_time_s", None, 1.0),
        ("dense", "flops_step", None, 2.0),
        ("dense", "saved_bytes", None, 2.0),
        ("rsm", "flops_fwd", 15, 1.0),
        ("sab", "flops_step", 8, 1.0),  # memory capped: linear
        ("sab", "flops_step", None, 2.0),  # unbounded: T/k_att memories, quadratic
        ("sab", "step_time_s", "none", 2.0),
        ("sab", "saved_bytes", None, 1.0),  # memories plus k_top + 1 weights a step: linear
        ("lstm", "rss_peak_bytes", None, None),  # large constant part: not compared
        ("my_plugin", "step_time_s", None, None),  # unknown variant: nothing declared
    ],
)
def test_expected_exponent(variant, cost, memory, expected):
    assert expected_exponent(variant, cost, memory) == expected


def test_is_unbounded():
    assert is_unbounded(None) and is_unbounded("none") and is_unbounded(float("nan")) and is_unbounded("")
    assert not is_unbounded(8) and not is_unbounded("8")


def test_every_declared_exponent_is_a_sensible_number():
    table = declared_exponents()
    assert {"lstm", "dense", "rsm", "sab (unbounded memory)", "sab (max_mem set)"} <= set(table["variant"])
    for _, row in table.iterrows():
        for kind in ("time", "flops", "memory"):
            assert row[kind] == "?" or 0 < float(row[kind]) <= 3


def test_declared_exponents_follow_the_row_parameters():
    assert expected_exponent("sab", "flops_step", params={"max_mem": 4}) == 1.0
    assert expected_exponent("sab", "flops_step", params={"max_mem": None}) == 2.0
    assert expected_exponent("sab", "flops_step", params={"max_mem": -1}) is None  # invalid: nothing claimed


def rows(variant, power, memory=None, status="ok", analytic_power=None, lengths=(100, 200, 400)):
    analytic_power = power if analytic_power is None else analytic_power
    return [
        {
            "task": "copy",
            "series": f"{variant}[m={memory}]",
            "variant": variant,
            "memory": memory,
            "seq_len": t,
            "status": status,
            "batch": 4,
            "hidden_size": 8,
            "device": "cpu",
            "dtype": "float32",
            "step_time_s": 1e-3 * t**power,
            "flops_step": 1e3 * t**power,
            "flops_step_analytic": 1e3 * t**analytic_power,
        }
        for t in lengths
    ]


def test_fit_exponents_verdicts():
    frame = pd.DataFrame(
        rows("dense", 2.0)
        + rows("rsm", 1.0 + ABOVE_TOLERANCE + 0.4, memory=15)  # rsm growing too fast: flagged
        + rows("sab", 1.3, memory=None)  # unbounded sab below its quadratic asymptote: fine
        + rows("lstm", 1.0, analytic_power=1.5)  # counted FLOPs disagree with the analytic count
        + rows("mystery", 1.0)
        + rows("lstm", 5.0, status="oom", memory="x")  # failed rows are not fitted
        + rows("dense", 2.0, memory=1, lengths=(100,))
    )
    fits = fit_exponents(frame, ["step_time_s", "flops_step"])
    verdict = {(r.series, r.cost): r.verdict for r in fits.itertuples()}
    assert verdict[("dense[m=None]", "step_time_s")] == "ok"
    assert verdict[("dense[m=None]", "flops_step")] == "ok"
    assert verdict[("rsm[m=15]", "step_time_s")] == "steeper than declared"
    assert verdict[("sab[m=None]", "flops_step")] == "ok"
    assert verdict[("lstm[m=None]", "flops_step")] == "differs from analytic count"
    assert verdict[("lstm[m=None]", "step_time_s")] == "ok"
    assert verdict[("mystery[m=None]", "step_time_s")] == "no declared exponent"
    assert verdict[("dense[m=1]", "step_time_s")] == "too few lengths"
    assert ("lstm[m=x]", "step_time_s") not in verdict
    dense = fits[(fits["series"] == "dense[m=None]") & (fits["cost"] == "flops_step")].iloc[0]
    assert dense["fitted"] == pytest.approx(2.0) and dense["analytic"] == pytest.approx(2.0)
    assert dense["declared"] == 2.0 and dense["n"] == 3 and dense["seq_min"] == 100 and dense["seq_max"] == 400


def test_steep_but_noisy_timings_are_not_called_wrong():
    frame = pd.DataFrame(rows("rsm", 2.0, memory=15))
    frame["step_time_noisy"] = [False, True, None]
    fits = fit_exponents(frame, ["step_time_s", "flops_step"]).set_index("cost")
    assert fits.loc["step_time_s", "verdict"] == "noisy timings"
    assert fits.loc["flops_step", "verdict"] == "steeper than declared"  # FLOPs are never noisy


def test_fit_exponents_of_nothing_is_an_empty_table():
    empty = fit_exponents(pd.DataFrame(rows("lstm", 1.0, status="error")), ["step_time_s"])
    assert empty.empty and "fitted" in empty.columns
