"""Pareto fronts against a brute-force definition, for any number of objectives and directions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbench.report.frontier import dominates, grouped_pareto_mask, pareto_front, pareto_mask

# small integer grid so that ties and duplicates are common; NaN for missing
values = st.one_of(st.integers(-3, 3).map(float), st.just(math.nan))


@st.composite
def problems(draw, max_rows: int = 12):
    n_obj = draw(st.integers(1, 4))
    directions = draw(st.lists(st.sampled_from(["min", "max"]), min_size=n_obj, max_size=n_obj))
    rows = draw(st.lists(st.lists(values, min_size=n_obj, max_size=n_obj), max_size=max_rows))
    return rows, directions


def better_or_equal(x, y, direction):
    return x <= y if direction == "min" else x >= y


def strictly_better(x, y, direction):
    return x < y if direction == "min" else x > y


def brute_force(rows, directions):
    """The definition, written out: complete, and no complete row at least as good everywhere and better once."""
    complete = [not any(math.isnan(x) for x in row) for row in rows]
    on_front = []
    for a, a_ok in zip(rows, complete):
        beaten = False
        for b, b_ok in zip(rows, complete):
            if a_ok and b_ok:
                pairs = list(zip(b, a, directions))
                if all(better_or_equal(*p) for p in pairs) and any(strictly_better(*p) for p in pairs):
                    beaten = True
        on_front.append(a_ok and not beaten)
    return on_front


def test_dominates_helper_agrees_with_the_definition():
    assert dominates([1, 2], [1, 3], ["min", "min"]) and not dominates([1, 3], [1, 3], ["min", "min"])
    assert dominates([1, 3], [1, 2], ["min", "max"]) and not dominates([math.nan, 0], [1, 1], ["min", "min"])


def frame_of(rows, n_obj):
    return pd.DataFrame(rows, columns=[f"o{i}" for i in range(n_obj)], dtype=float)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_matches_brute_force(problem):
    rows, directions = problem
    frame = frame_of(rows, len(directions))
    objectives = {f"o{i}": d for i, d in enumerate(directions)}
    assert pareto_mask(frame, objectives).tolist() == brute_force(rows, directions)


@settings(max_examples=150, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_independent_of_row_order_and_index(problem, rnd):
    rows, directions = problem
    frame = frame_of(rows, len(directions))
    objectives = {f"o{i}": d for i, d in enumerate(directions)}
    order = list(range(len(rows)))
    rnd.shuffle(order)
    shuffled = frame.iloc[order].set_axis([f"r{i}" for i in order])
    expected = pareto_mask(frame, objectives).to_numpy()[order]
    assert pareto_mask(shuffled, objectives).to_numpy().tolist() == expected.tolist()


@settings(max_examples=150, deadline=None)
@given(problems())
def test_max_is_min_of_negation(problem):
    rows, directions = problem
    frame = frame_of(rows, len(directions))
    flipped = frame.copy()
    objectives, negated = {}, {}
    for i, d in enumerate(directions):
        objectives[f"o{i}"] = d
        negated[f"o{i}"] = "max" if d == "min" else "min"
        flipped[f"o{i}"] = -frame[f"o{i}"]
    assert pareto_mask(frame, objectives).tolist() == pareto_mask(flipped, negated).tolist()


@settings(max_examples=150, deadline=None)
@given(problems())
def test_every_complete_point_is_on_the_front_or_dominated_by_it(problem):
    rows, directions = problem
    frame = frame_of(rows, len(directions))
    mask = pareto_mask(frame, {f"o{i}": d for i, d in enumerate(directions)}).tolist()
    front = [r for r, m in zip(rows, mask) if m]
    for row, on in zip(rows, mask):
        if any(math.isnan(x) for x in row):
            assert not on
        elif on:
            assert not any(dominates(f, row, directions) for f in front)
        else:
            assert any(dominates(f, row, directions) for f in front)


def test_worked_example_cost_and_accuracy():
    frame = pd.DataFrame(
        {
            "name": ["cheap-bad", "mid", "dear-good", "dominated", "dup-of-mid", "missing"],
            "time": [1.0, 2.0, 4.0, 3.0, 2.0, np.nan],
            "acc": [0.5, 0.8, 0.9, 0.7, 0.8, 1.0],
        }
    )
    mask = pareto_mask(frame, {"time": "min", "acc": "max"})
    assert frame["name"][mask].tolist() == ["cheap-bad", "mid", "dear-good", "dup-of-mid"]
    front = pareto_front(frame, {"time": "min", "acc": "max"})
    assert front["time"].tolist() == [1.0, 2.0, 2.0, 4.0]


def test_grouped_front_is_computed_per_group():
    frame = pd.DataFrame({"T": [1, 1, 2, 2, None], "cost": [1.0, 2.0, 5.0, 6.0, 9.0], "acc": [0.5, 0.4, 0.1, 0.9, 0.1]})
    mask = grouped_pareto_mask(frame, {"cost": "min", "acc": "max"}, ["T"])
    assert mask.tolist() == [True, False, True, True, True]  # the missing-key row is its own group
    assert grouped_pareto_mask(frame.iloc[:0], {"cost": "min"}, ["T"]).empty


def test_non_numeric_values_count_as_missing():
    frame = pd.DataFrame({"a": [1, "n/a", None], "b": [1, 0, 0]})
    assert pareto_mask(frame, {"a": "min", "b": "min"}).tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("objectives", "error"),
    [({}, ValueError), ({"a": "up"}, ValueError), ({"nope": "min"}, KeyError)],
)
def test_bad_objectives_raise(objectives, error):
    with pytest.raises(error):
        pareto_mask(pd.DataFrame({"a": [1.0]}), objectives)
