"""attnbench reproduce: the runs, the jobs, the parallel path, the aggregation and the table."""

from __future__ import annotations

import json

import pytest

from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.reproduce import (
    DEFAULT_RUNS,
    RUN_KEYS,
    RUNS,
    ReproduceConfig,
    format_table,
    jobs,
    reproduce,
    run_jobs,
    summarize,
)

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
    assert len(d.seeds) >= 3 and d.workers == 2


def test_jobs_every_run_and_seed_at_its_delay():
    config = ReproduceConfig(**TINY, seeds=(0, 1, 2), runs=("lstm", "lstm_long", "sab"))
    todo = jobs(config)
    assert sorted((j.run.key, j.seed) for j in todo) == sorted(
        (k, s) for k in ("lstm", "lstm_long", "sab") for s in (0, 1, 2)
    )
    delays = {j.run.key: (j.delay, j.eval_delays) for j in todo}
    assert delays == {"lstm": (3, (3, 5)), "lstm_long": (4, (4, 5)), "sab": (3, (3, 5))}
    assert todo[0].run.key == "sab"  # the most expensive first


def _record(run, seed, accuracy, status="ok"):
    out = {"run": run, "seed": seed, "train_delay": 3, "steps": 2, "status": status}
    if status == "ok":
        out.update(accuracy={str(k): v for k, v in accuracy.items()}, cpu_time_s=1.0)
    else:
        out["error"] = "worker process died (exit code -9)"
    return out


def test_summary_mean_interval_success_and_failed_seed():
    config = ReproduceConfig(**TINY, seeds=(0, 1, 2), runs=("lstm", "sab"))
    records = [
        _record("sab", 0, {3: 1.0, 5: 1.0}),
        _record("sab", 1, {3: 1.0, 5: 0.98}),
        _record("sab", 2, {3: 1.0, 5: 1.0}),
        _record("lstm", 0, {3: 0.2, 5: 0.1}),
        _record("lstm", 1, {3: 0.4, 5: 0.2}),
        _record("lstm", 2, {}, status="error"),
    ]
    by = {(s["run"], s["delay"]): s for s in summarize(records, config)}
    sab3, sab5, lstm3 = by["sab", 3], by["sab", 5], by["lstm", 3]
    assert (sab3["mean"], sab3["ci_low"], sab3["ci_high"], sab3["successes"], sab3["n"]) == (1.0, 1.0, 1.0, 3, 3)
    # Student's t: 0.99333 -+ t(0.975, 2) * 0.0066667 = 0.99333 -+ 0.028684 (not clipped at 1)
    assert sab5["successes"] == 2 and sab5["ci_low"] == pytest.approx(0.964649, abs=1e-5)
    assert sab5["ci_high"] == pytest.approx(1.022018, abs=1e-5)
    # the crashed seed counts as a run that did not succeed, not in the mean
    assert lstm3["n_runs"] == 3 and lstm3["n"] == 2 and lstm3["mean"] == pytest.approx(0.3)
    assert lstm3["successes"] == 0 and lstm3["success_rate"] == 0.0
    table = format_table(records, config)
    assert "| sab (k_trunc=5, k_top=5, k_att=2) | T=3 | 2 | 100.0 [100.0, 100.0] 3/3 | 99.3 [" in table
    assert "30.0 [-97.1, 157.1] 0/3" in table and "99.8" in table  # two seeds: t(0.975, 1) = 12.7
    assert "lstm seed 2: worker process died" in table and "rsm is not in the default runs" in table
    assert "not the digits" in table  # the scale caveat is part of the table
    json.dumps(summarize(records, config))


def test_tiny_reproduction_in_this_process():
    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("lstm", "lstm_long"), workers=0)
    lines: list[str] = []
    saved: list[int] = []
    records = reproduce(config, log=lines.append, on_record=lambda rs: saved.append(len(rs)))
    assert [(r["run"], r["seed"]) for r in records] == [("lstm", 0), ("lstm", 1), ("lstm_long", 0), ("lstm_long", 1)]
    assert len(lines) == 4 and saved == [1, 2, 3, 4]
    for r in records:
        assert r["status"] == "ok" and r["cpu_time_s"] > 0 and r["train"]["steps"] == 2
        assert set(r["accuracy"]) == ({"3", "5"} if r["run"] == "lstm" else {"4", "5"})
        assert all(0 <= a <= 1 for a in r["accuracy"].values())
        json.dumps(r)
    assert "| lstm, full BPTT | T=4 | 2 | - |" in format_table(records, config)


def test_worker_processes_a_crash_loses_only_itself(monkeypatch):
    """Two spawned workers; a job that raises is an error outcome, the others finish."""
    config = ReproduceConfig(**TINY, seeds=(0, 1), runs=("lstm",), workers=2)
    todo = jobs(config)
    bad = type(todo[0])(**{**vars(todo[0]), "hidden_size": 0})  # build_variant rejects it in the worker
    outcomes: dict[int, dict] = {}
    run_jobs([bad, todo[1]], 2, lambda job, outcome: outcomes.__setitem__(job.seed, outcome))
    assert outcomes[bad.seed]["status"] == "error" and "hidden_size" in outcomes[bad.seed]["error"]
    assert outcomes[todo[1].seed]["status"] == "ok"


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
        ({"workers": -1}, ParameterError, "workers=-1"),
        ({"steps": 0}, ParameterError, "steps=0"),
        ({"hidden_size": 0}, ParameterError, "hidden_size=0"),
    ],
)
def test_bad_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReproduceConfig(**kwargs)
