"""report.compare: probability of improvement (with its interval) and performance profiles on known
inputs, and the tables the report draws them from."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from attnbench.report import compare


def test_probability_of_improvement_on_known_samples():
    assert compare.probability_of_improvement([0.9, 0.95, 0.97], [0.1, 0.2, 0.3]) == 1.0  # every pair won
    assert compare.probability_of_improvement([0.1, 0.2, 0.3], [0.9, 0.95, 0.97]) == 0.0
    assert compare.probability_of_improvement([0.4, 0.5, 0.6], [0.4, 0.5, 0.6]) == 0.5  # identical samples
    assert compare.probability_of_improvement([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5  # all tied
    # pairs: 0.5 vs (0.5, 0.2, 1.0) -> 0.5 + 1 + 0, twice; 1.0 vs them -> 1 + 1 + 0.5: 5.5 / 9, as rliable gives
    assert compare.probability_of_improvement([0.5, 0.5, 1.0], [0.5, 0.2, 1.0]) == pytest.approx(5.5 / 9)
    # a lower-is-better metric (loss): the lower run wins
    assert compare.probability_of_improvement([0.1, 0.2], [0.3, 0.4], higher=False) == 1.0
    assert math.isnan(compare.probability_of_improvement([], [0.3]))


def test_probability_of_improvement_is_the_share_of_won_pairs():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, 7).astype(float), rng.integers(0, 4, 5).astype(float)  # many ties
    d = x[:, None] - y[None, :]
    assert compare.probability_of_improvement(x, y) == pytest.approx(((d > 0) + 0.5 * (d == 0)).mean())


def test_interval_keeps_a_width_where_every_run_wins():
    low, high = compare.improvement_interval(1.0, 3, 3)
    assert high == 1.0 and low == pytest.approx(0.5010, abs=1e-3)  # not the bootstrap's [1, 1]
    low5, _ = compare.improvement_interval(1.0, 5, 5)
    assert low < low5 < 1.0  # more runs, a narrower interval
    low, high = compare.improvement_interval(0.5, 3, 3)
    assert low == pytest.approx(1 - high) and 0 < low < 0.5 < high < 1  # symmetric about 0.5
    assert compare.improvement_interval(0.0, 3, 3)[0] == 0.0
    assert all(math.isnan(v) for v in compare.improvement_interval(math.nan, 3, 3))


def test_interval_solves_newcombes_equation():
    p, n, m = 7 / 9, 3, 3
    z = 1.959964
    for theta in compare.improvement_interval(p, n, m):
        star = (n + m) / 2 - 1
        var = theta * (1 - theta) * (1 + star * ((1 - theta) / (2 - theta) + theta / (1 + theta))) / (n * m)
        assert (p - theta) ** 2 == pytest.approx(z**2 * var, abs=1e-8)


def test_performance_profile_at_thresholds():
    scores = [0.1, 0.5, 0.5, 1.0]
    assert list(compare.performance_profile(scores, [0.0, 0.1, 0.5, 0.9, 1.0])) == [1.0, 0.75, 0.25, 0.25, 0.0]
    assert list(compare.performance_profile(scores, [0.5, 2.0], higher=False)) == [0.25, 1.0]
    assert np.isnan(compare.performance_profile([], [0.5])).all()


def _agg(rows: list[tuple[str, str, int, list[float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"series": s, "label": s, "variant": v, "variant_params": "{}" if s == v else '{"k": 1}', "seq_len": t,
             "lr": 1e-3, "batch": 8, "score_values": json.dumps(scores)}
            for s, v, t, scores in rows
        ]
    )  # fmt: skip


def test_improvement_table_compares_with_the_plain_lstm_at_each_length():
    agg = _agg(
        [
            ("lstm", "lstm", 30, [0.1, 0.2, 0.3]),
            ("lstm[k_trunc=5]", "lstm", 30, [0.0, 0.0, 0.0]),  # not the plain lstm: compared, not a baseline
            ("sab", "sab", 30, [0.9, 0.95, 0.97]),
            ("sab", "sab", 50, [0.9, 0.1, 0.95]),
            ("lstm", "lstm", 50, [0.5, 0.5, 0.5]),
        ]
    )
    table = compare.improvement_table(agg).set_index(["series", "seq_len"])
    assert sorted(table.index) == [("lstm[k_trunc=5]", 30), ("sab", 30), ("sab", 50)]
    assert table.loc[("sab", 30), "p"] == 1.0 and table.loc[("lstm[k_trunc=5]", 30), "p"] == 0.0
    assert table.loc[("sab", 50), "p"] == pytest.approx(2 / 3) and table.loc[("sab", 50), "n"] == 3
    assert (table["against"] == "lstm").all() and (table["low"] <= table["p"]).all()
    assert compare.improvement_table(agg[agg["variant"] != "lstm"]).empty  # no lstm: nothing to compare with


def test_profile_table_spans_the_scores_of_each_length():
    agg = _agg([("lstm", "lstm", 30, [0.1, 0.2]), ("sab", "sab", 30, [0.1, 1.0, 1.0])])
    table = compare.profile_table(agg, points=11)
    sab = table[table["series"] == "sab"].sort_values("tau")
    assert sab["tau"].iloc[0] == pytest.approx(0.1) and sab["tau"].iloc[-1] == pytest.approx(1.0)
    assert sab["share"].iloc[0] == pytest.approx(2 / 3) and sab["share"].iloc[-1] == 0.0
    assert set(table["n"]) == {2, 3}


def test_the_plain_lstm_is_found_in_stored_rows_whose_params_are_filled_in():
    import pandas as pd

    from attnbench.report.compare import improvement_table

    agg = pd.DataFrame(
        [
            {"label": "lstm", "variant": "lstm", "variant_params": '{"fused": true, "k_trunc": null}',
             "seq_len": 30, "lr": 0.01, "score_values": "[0.1, 0.12, 0.11]"},
            {"label": "lstm[k_trunc=5]", "variant": "lstm", "variant_params": '{"fused": true, "k_trunc": 5}',
             "seq_len": 30, "lr": 0.01, "score_values": "[0.2, 0.22, 0.21]"},
            {"label": "sab", "variant": "sab", "variant_params": '{"k_top": 5}', "seq_len": 30, "lr": 0.01,
             "score_values": "[0.3, 0.32, 0.31]"},
        ]
    )  # fmt: skip
    table = improvement_table(agg)
    assert sorted(table["series"]) == ["lstm[k_trunc=5]", "sab"] and set(table["against"]) == {"lstm"}
    assert (table["p"] == 1.0).all()


def test_versus_baseline_reads_the_two_intervals_in_the_metrics_direction():
    assert compare.versus_baseline(0.3, 0.4, 0.1, 0.2) == "better"  # entirely above lstm's
    assert compare.versus_baseline(0.0, 0.05, 0.1, 0.2) == "worse"
    assert compare.versus_baseline(0.15, 0.4, 0.1, 0.2) == "overlaps"
    assert compare.versus_baseline(0.2, 0.4, 0.1, 0.2) == "overlaps"  # touching is not separated
    assert compare.versus_baseline(0.0, 0.05, 0.1, 0.2, higher=False) == "better"  # a loss: lower is better
    assert compare.versus_baseline(0.3, 0.4, 0.1, 0.2, higher=False) == "worse"
    assert compare.versus_baseline(math.nan, math.nan, 0.1, 0.2) == "no interval"  # a single seed


def test_separation_table_matches_each_configuration_with_its_lstm():
    agg = _agg(
        [
            ("lstm", "lstm", 30, []),
            ("sab", "sab", 30, []),
            ("dense", "dense", 30, []),
            ("sab", "sab", 50, []),
            ("lstm", "lstm", 50, []),
        ]
    ).assign(score_ci_low=[0.1, 0.3, 0.15, 0.0, 0.1], score_ci_high=[0.2, 0.4, 0.3, 0.05, 0.2])
    table = compare.separation_table(agg).set_index(["series", "seq_len"])
    assert table["verdict"].to_dict() == {("sab", 30): "better", ("dense", 30): "overlaps", ("sab", 50): "worse"}
    assert set(table["against"]) == {"lstm"} and list(table["index"]) == [1, 2, 3]
    assert compare.separation_table(agg[agg["variant"] != "lstm"]).empty
