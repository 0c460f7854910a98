"""Replicate groups in the sweep: the seeds and learning rates of one configuration measured as one job."""

from __future__ import annotations

import json
import os
from pathlib import Path

from attnbench.config import Group, Job, Options, Point, replicate_key
from attnbench.sweep.expand import expand
from attnbench.sweep.runner import replicate_groups
from attnbench.sweep.spec import from_mapping
from tests.sweep.conftest import sweep

GROUPED = [
    *("--variants", "lstm,rsm", "--seq-len", "4", "--memory", "2", "-p", "lstm.k_trunc=none"),
    *("--seeds", "0,1", "--lrs", "0.001,0.01", "--workers", "1"),
    *("--batch", "2", "--hidden", "4", "--repeats", "1", "--warmup", "0", "--no-progress"),
    *("--train-steps", "3", "--train-batch", "2", "--eval-batches", "1", "--curve-points", "2"),
]


def _rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]


def _jobs(**flat):
    spec = from_mapping({"variants": ["lstm", "rsm"], "axes": {"seq_len": [4]}, "train_steps": 1, **flat}, "test")
    return list(expand(spec))


def test_groups_are_the_seeds_and_lrs_of_one_configuration():
    jobs = _jobs(seeds=[0, 1, 2], lrs=[1e-3, 1e-2])
    groups = list(replicate_groups(jobs, 32))
    assert [len(g.jobs) for g in groups] == [6, 6]
    for group in groups:
        assert len({replicate_key(j) for j in group.jobs}) == 1
        assert sorted((j.point.seed, j.options.lr) for j in group.jobs) == [
            (s, lr) for s in (0, 1, 2) for lr in (1e-3, 1e-2)
        ]
    assert [j for g in groups for j in g.jobs] == jobs  # every job once, in order


def test_group_size_caps_a_group_and_one_means_alone():
    jobs = _jobs(seeds=[0, 1, 2], lrs=[1e-3, 1e-2])
    assert [len(g.jobs) for g in replicate_groups(jobs, 4)] == [4, 2, 4, 2]
    assert [len(g.jobs) for g in replicate_groups(jobs, 1)] == [1] * 12


def test_a_grid_of_one_seed_and_one_lr_is_groups_of_one():
    jobs = _jobs(seeds=[0])
    assert [len(g.jobs) for g in replicate_groups(jobs, 32)] == [1, 1]


def test_group_json_round_trip_and_a_job_is_a_group_of_one():
    a = Job(Point("lstm", "copy", seed=0), Options(lr=1e-3))
    b = Job(Point("lstm", "copy", seed=1), Options(lr=1e-2))
    group = Group((a, b))
    assert Group.from_json(group.to_json()) == group
    assert Group.from_json(a.to_json()) == Group((a,))
    assert group.point_ids == [a.point_id, b.point_id] and group.label == "lstm x2"


def test_sweep_measures_a_group_as_one_job_with_one_row_per_replicate(out):
    done = sweep(*GROUPED, "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert {r["group_size"] for r in rows} == {4}
    for label in ("lstm", "rsm[rho=2]"):
        mine = [r for r in rows if r["label"] == label]
        assert sorted((r["seed"], r["lr"]) for r in mine) == [(0, 0.001), (0, 0.01), (1, 0.001), (1, 0.01)]
        assert len({r["point_id"] for r in mine}) == 4
        # cost figures are one model's, measured once per group
        assert len({r["flops_fwd"] for r in mine}) == 1 and len({r["step_time_s"] for r in mine}) == 1
        # every replicate has its own scores and curve
        assert all(r["score"] is not None and r["val_curve"] for r in mine)
        assert len({r["final_loss"] for r in mine}) == 4


def test_group_of_one_matches_the_point_measured_alone(out):
    alone = out.parent / "alone"
    assert sweep(*GROUPED, "--out", str(out)).returncode == 0
    assert sweep(*GROUPED, "--group-size", "1", "--out", str(alone)).returncode == 0
    grouped = {r["point_id"]: r for r in _rows(out)}
    single = {r["point_id"]: r for r in _rows(alone)}
    assert grouped.keys() == single.keys()
    for pid, row in single.items():
        assert row["group_size"] == 1
        assert abs(row["score"] - grouped[pid]["score"]) < 1e-5, pid
        assert abs(row["final_loss"] - grouped[pid]["final_loss"]) < 1e-5, pid


def test_a_killed_group_loses_only_its_own_replicates_and_resume_finishes_it(out):
    env = {**os.environ, "ATTNBENCH_FAULT": "kill@rsm[rho=2]"}
    done = sweep(*GROUPED, "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    statuses = sorted((r["label"], r["status"]) for r in rows)
    assert statuses == [("lstm", "ok")] * 4 + [("rsm[rho=2]", "error")] * 4
    assert all("SIGKILL" in r["error"] for r in rows if r["status"] == "error")
    again = sweep(*GROUPED, "--out", str(out), "--resume", "--retry-failed")
    assert again.returncode == 0, again.stderr
    rows = _rows(out)
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)


def test_the_summary_counts_a_groups_wall_time_once():
    import pandas as pd

    from attnbench.sweep.runner import summary_text

    frame = pd.DataFrame([{"label": "rsm", "status": "ok", "wall_time_s": 6.0, "group_size": 3}] * 3)
    frame.attrs["wall_time_s"] = 10.0
    assert "3 point(s) in 10.0 s: measuring 6.0 s" in summary_text(frame)
