"""attnbench reproduce: a sweep of its runs' points, stored, resumed, and its table a view of aggregate."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from attnbench.aggregate import mean_ci
from attnbench.config import config_columns
from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.reproduce import (
    DEFAULT_RUNS,
    RUN_KEYS,
    RUNS,
    TARGET,
    ReproduceConfig,
    delay_rows,
    format_table,
    jobs,
    points,
    reproduce,
    stored,
    summarize,
)
from attnbench.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(delay=3, long_delay=4, transfer=(5,), steps=2, batch=4, hidden_size=4, eval_batches=1)


def test_runs_cover_the_papers_comparison():
    assert RUN_KEYS == ("lstm", "lstm_long", "lstm_tbptt", "dense", "sab", "rsm")
    assert DEFAULT_RUNS == ("lstm", "lstm_long", "lstm_tbptt", "dense", "sab")  # rsm: selectable, past the budget
    by_key = {r.key: r for r in RUNS}
    d = ReproduceConfig()
    assert dict(by_key["lstm_tbptt"].params)["k_trunc"] < d.delay  # truncation can't bridge it
    assert dict(by_key["sab"].params) == {"k_trunc": 5, "k_top": 5, "k_att": 2}
    assert dict(by_key["lstm"].paper)[100] == "99.8" and dict(by_key["lstm_long"].paper)[200] == "~56"
    assert all(t > d.delay for t in d.transfer) and d.long_delay > d.delay
    assert len(d.seeds) >= 5  # a run's seeds: one replicate group, intervals that mean something
    assert TARGET == get_task("copy").target == get_task("transfer_copy").target


def test_jobs_are_sweep_points_every_run_and_seed_at_its_delay():
    config = ReproduceConfig(**TINY, seeds=(0, 1, 2), runs=("lstm", "lstm_long", "sab"))
    todo = jobs(config)
    ids = points(config)
    assert [ids[j.point_id] for j in todo] == [(r, s) for r in (RUNS[4], RUNS[1], RUNS[0]) for s in (0, 1, 2)]
    # the most expensive run first, a run's seeds one after another (the replicates of one configuration)
    seen = {ids[j.point_id][0].key: j for j in todo}
    assert {k: (j.point.task, dict(j.point.task_params)) for k, j in seen.items()} == {
        "lstm": ("transfer_copy", {"seq_len": 3, "eval_lens": "5"}),
        "lstm_long": ("transfer_copy", {"seq_len": 4, "eval_lens": "5"}),
        "sab": ("transfer_copy", {"seq_len": 3, "eval_lens": "5"}),
    }
    sab = seen["sab"]
    assert {k: sab.point.params[k] for k in ("k_trunc", "k_top", "k_att")} == {"k_trunc": 5, "k_top": 5, "k_att": 2}
    assert (sab.options.train_steps, sab.options.optimizer, sab.options.threads) == (2, "adam", 1)
    assert len(set(ids)) == len(todo) == 9
    # no longer delay to evaluate at: plain copy
    [job] = jobs(ReproduceConfig(**{**TINY, "transfer": (3,)}, seeds=(0,), runs=("lstm",)))
    assert (job.point.task, dict(job.point.task_params)) == ("copy", {"seq_len": 3})


def _rows(config: ReproduceConfig, scores: dict[tuple[str, int], tuple[float, float] | None]) -> pd.DataFrame:
    """Stored rows as a sweep writes them: ``(run, seed) -> (score, transfer score at 5)``, None for an error."""
    out = []
    for job in jobs(config):
        run, seed = points(config)[job.point_id]
        if (run.key, seed) not in scores:
            continue
        row = {**config_columns(*job), "run": run.key, "higher_is_better": True, "status": "ok", "error": ""}
        got = scores[run.key, seed]
        if got is None:
            row.update(status="error", error="worker killed by SIGKILL", score=None, transfer_scores=None)
        else:
            row.update(score=got[0], transfer_scores=json.dumps({"5": got[1]}))
        out.append(row)
    return pd.DataFrame(out)


def test_the_table_is_aggregates_view_of_the_rows():
    config = ReproduceConfig(**TINY, seeds=(0, 1, 2), runs=("lstm", "sab"))
    scores = {
        ("sab", 0): (1.0, 1.0),
        ("sab", 1): (1.0, 0.98),
        ("sab", 2): (1.0, 0.995),
        ("lstm", 0): (0.2, 0.1),
        ("lstm", 1): (0.4, 0.2),
        ("lstm", 2): None,
    }
    rows = _rows(config, scores)
    table = summarize(rows, config)
    assert [(s["run"], s["delay"]) for s in table] == [("lstm", 3), ("lstm", 5), ("sab", 3), ("sab", 5)]
    for s in table:  # each cell: mean_ci of the seeds with a score, k/n of every seed at the target
        column = 0 if s["delay"] == 3 else 1
        got = [v[column] for (run, _), v in scores.items() if run == s["run"] and v is not None]
        low, high = mean_ci(got)
        assert s["mean"] == pytest.approx(np.mean(got))
        assert (s["ci_low"], s["ci_high"]) == pytest.approx((low, high))
        assert (s["n"], s["n_runs"]) == (len(got), 3)
        assert s["successes"] == sum(v >= TARGET for v in got)
    by = {(s["run"], s["delay"]): s for s in table}
    assert by["sab", 5]["successes"] == 2 and by["lstm", 3]["mean"] == pytest.approx(0.3)
    text = format_table(rows, config)
    low, high = mean_ci([1.0, 0.98, 0.995])
    assert "| sab (k_trunc=5, k_top=5, k_att=2) | T=3 | 2 | 100.0 [100.0, 100.0] 3/3 | 99.2 [" in text
    assert f"99.2 [{100 * low:.1f}, {100 * high:.1f}] 2/3" in text
    assert "30.0 [" in text and "] 0/3" in text and "99.8" in text
    assert "lstm seed 2: error, worker killed by SIGKILL" in text and "rsm is not in the default runs" in text
    assert "not the digits" in text  # the scale caveat is part of the table
    # every seed listed, with the step a solving seed reached the target at (none recorded here)
    assert "Every seed at its run's training delay: lstm (seed 0 20.0%, seed 1 40.0%, seed 2 error); " in text
    assert "sab (seed 0 100.0%, seed 1 100.0%, seed 2 100.0%)." in text
    json.dumps(table)


def test_the_per_seed_note_names_the_step_a_seed_reached_the_target():
    from attnbench.reproduce import per_seed_note

    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("sab",))
    rows = _rows(config, {("sab", 0): (1.0, 1.0), ("sab", 1): (0.4, 0.3)})
    rows["steps_to_target"] = [1400.0 if seed == 0 else math.nan for seed in rows["seed"]]
    note = per_seed_note(rows, config.selected())
    assert note == "Every seed at its run's training delay: sab (seed 0 100.0% (target at step 1,400), seed 1 40.0%)."
    assert per_seed_note(pd.DataFrame(), config.selected()) == ""


def test_a_column_counts_its_own_score_not_the_learning_curve():
    """k/n is the held-out score at that delay against the target: a run that touched the target on its
    validation curve and ended below it is not solved (the training delay and transfer alike)."""
    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("sab",))
    rows = _rows(config, {("sab", 0): (0.9, 0.9), ("sab", 1): (0.995, 0.995)})
    rows["val_curve"], rows["steps_to_target"] = json.dumps([[1, 0.1, 0.995]]), 1
    assert delay_rows(rows, config)["seq_len"].tolist() == [3, 5, 3, 5]
    assert [s["successes"] for s in summarize(rows, config)] == [1, 1]


def test_missing_points_are_said(tmp_path):
    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("sab",))
    text = format_table(_rows(config, {("sab", 0): (0.5, 0.4)}), config)
    assert "1 of the 2 points are not stored yet" in text
    assert stored(config, tmp_path / "nothing").empty


def test_a_tiny_reproduction_stores_its_points_and_a_rerun_resumes(tmp_path):
    """The runs are points in a results folder, one row each; a rerun trains nothing again."""
    out = tmp_path / "results"
    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("lstm", "lstm_long"))
    rows = reproduce(config, out, workers=2)
    files = sorted((out / "points").glob("*.json"))
    assert sorted(p.stem for p in files) == sorted(points(config)) and len(rows) == 4
    assert [(r, s) for r, s in zip(rows["run"], rows["seed"])] == [("lstm", 0), ("lstm", 1), ("lstm_long", 0),
                                                                    ("lstm_long", 1)]  # fmt: skip
    for _, row in rows.iterrows():
        assert row["status"] == "ok" and row["train_steps"] == 2 and row["task"] == "transfer_copy"
        assert set(json.loads(row["transfer_scores"])) == {"5"} and 0 <= row["score"] <= 1
        assert math.isfinite(row["wall_time_s"])
    assert "| lstm, full BPTT | T=4 | 2 | - |" in format_table(rows, config)
    before = {p.name: p.stat().st_mtime_ns for p in files}

    with pytest.raises(UsageError, match="already holds 4 stored point"):  # as a sweep: no silent mixing
        reproduce(config, out)
    again = reproduce(config, out, resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")} == before
    pd.testing.assert_frame_equal(again, rows)

    more = ReproduceConfig(**TINY, seeds=(0, 1, 2), runs=("lstm",))  # another seed: only it runs
    grown = reproduce(more, out, resume=True)
    assert len(grown) == 3 and len(list((out / "points").glob("*.json"))) == 5
    assert all((out / "points" / name).stat().st_mtime_ns == t for name, t in before.items())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"delay": 0}, ParameterError, "delay=0"),
        ({"transfer": (10, 0)}, ParameterError, "transfer delay=0"),
        ({"delay": 50, "long_delay": 100, "transfer": (100, 20)}, UsageError, "transfer delay 20 is shorter"),
        ({"long_delay": 20}, UsageError, "long delay 20 is not longer than the training delay 20"),
        ({"runs": ("lstm", "gru")}, UsageError, "unknown run 'gru'; known runs: lstm, lstm_long"),
        ({"runs": ()}, UsageError, "unknown run"),
        ({"seeds": ()}, UsageError, "expected one or more distinct seeds"),
        ({"seeds": (1, 1)}, UsageError, "expected one or more distinct seeds"),
        ({"seeds": (-1,)}, ParameterError, "seed=-1"),
        ({"steps": 0}, ParameterError, "steps=0"),
        ({"hidden_size": 0}, ParameterError, "hidden_size=0"),
    ],
)
def test_bad_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReproduceConfig(**kwargs)
