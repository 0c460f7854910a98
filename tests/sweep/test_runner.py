"""Planning a sweep: what is stored is found in the grid from its rows, without enumerating the grid."""

from __future__ import annotations

import pytest

from attnbench.config import config_columns
from attnbench.results import ResultsDir
from attnbench.sweep import SweepSpec, expand, plan
from attnbench.sweep.runner import dry_run_table, eta_text, totals
from tests.sweep.conftest import MILLION


def _spec(**kw) -> SweepSpec:
    return SweepSpec().replace(**{"variants": ("lstm", "sab"), "axes": {"seq_len": (5, 10), "memory": (2,)}, **kw})


def _store(out, jobs, status="ok", wall_time_s=2.0):
    results = ResultsDir(out)
    for job in jobs:
        results.write({**config_columns(job.point, job.options), "status": status, "wall_time_s": wall_time_s})


def test_resume_finds_the_stored_points_from_their_rows_and_runs_the_rest(tmp_path):
    spec = _spec(seeds=(0, 1), lrs=(1e-3, 3e-3), train_steps=5)
    jobs = expand(spec)
    stored = [jobs[i] for i in (0, 3, len(jobs) - 1)]
    _store(tmp_path, stored)
    _store(tmp_path, expand(_spec(seeds=(9,)))[:2])  # another sweep's points in the same folder
    the_plan = plan(spec, tmp_path, resume=True)
    assert the_plan.done == {0, 3, len(jobs) - 1}
    left = [job.point_id for job in the_plan.todo]
    assert left == [job.point_id for i, job in enumerate(jobs) if i not in the_plan.done]
    assert len(the_plan.todo) == len(left) == len(jobs) - 3
    sums = totals(the_plan)
    assert (sums.points, sums.stored) == (len(jobs) - 3, 3)
    table = dry_run_table(the_plan.todo)
    assert sums.skipped == int((table["skip"] != "").sum())
    assert sums.gflop == pytest.approx(table["total_gflop"].sum())
    assert "at the median 2.0 s per point of the 5 stored" in eta_text(the_plan, spec)
    again = plan(spec, tmp_path, resume=True, retry_failed=True)
    assert len(again.todo) == len(jobs) - 3  # nothing failed: nothing to retry


def test_a_stored_row_whose_columns_mislead_is_still_not_measured_twice(tmp_path):
    spec = _spec()
    jobs = expand(spec)
    row = {**config_columns(jobs[1].point, jobs[1].options), "status": "ok", "variant_params": "{not json"}
    ResultsDir(tmp_path).write(row)
    the_plan = plan(spec, tmp_path, resume=True)
    assert the_plan.done == frozenset()  # not found from its columns: counted as to run...
    assert jobs[1].point_id not in [job.point_id for job in the_plan.todo]  # ...but its id keeps it from running


def test_failed_points_are_counted_to_run_again_with_retry_failed(tmp_path):
    spec = _spec()
    jobs = expand(spec)
    _store(tmp_path, jobs[:2], status="error")
    assert len(plan(spec, tmp_path, resume=True).todo) == len(jobs) - 2
    retry = plan(spec, tmp_path, resume=True, retry_failed=True)
    assert len(retry.todo) == len(jobs) and [j.point_id for j in retry.todo] == [j.point_id for j in jobs]


def test_resuming_a_million_point_grid_builds_only_the_stored_points(tmp_path, built):
    spec = SweepSpec().replace(**MILLION)
    jobs = expand(spec)
    _store(tmp_path, [jobs[i] for i in (0, 1, 500_000)])
    before = built[0]
    the_plan = plan(spec, tmp_path, resume=True)
    assert len(the_plan.todo) == 1000 * 1000 - 3
    first = [job.point_id for _, job in zip(range(3), the_plan.todo)]
    assert first == [jobs[i].point_id for i in (2, 3, 4)]
    assert totals(the_plan).stored == 3
    assert built[0] - before <= 20


def test_the_time_estimate_counts_the_workers_side_by_side(tmp_path):
    spec = SweepSpec().replace(variants=("lstm",), axes={"seq_len": (5, 6, 7)}, workers=2, timeout_s=60)
    text = eta_text(plan(spec, tmp_path, resume=False), spec)
    assert text.startswith("at most 2 min at the 60 s time limit per point, 2 at a time;")  # two rounds of 60 s


def test_the_time_estimate_counts_replicate_groups(tmp_path):
    spec = SweepSpec().replace(
        variants=("lstm",), axes={"seq_len": (5, 6, 7)}, seeds=[0, 1, 2], lrs=[1e-3, 1e-2], timeout_s=60, train_steps=5
    )
    text = eta_text(plan(spec, tmp_path, resume=False), spec)
    # three groups of six replicates, each limited to 6 x 60 s
    assert text.startswith("at most 18 min at the 6 min time limit per group of 6 replicates;"), text
    alone = eta_text(plan(spec.replace(group_size=1), tmp_path, resume=False), spec.replace(group_size=1))
    assert alone.startswith("at most 18 min at the 60 s time limit per point;"), alone


def test_a_plan_of_jobs_given_one_by_one_resumes_like_a_grid(tmp_path):
    """plan(jobs=...): points no single spec expresses (attnbench reproduce's runs, each with its own options)."""
    from attnbench.sweep.expand import JobList

    spec = _spec(seeds=(0, 1))
    grid = expand(spec)
    given = [grid[2], grid[0], grid[2].__class__(grid[1].point, grid[1].options.replace(train_steps=3)), grid[0]]
    _store(tmp_path, [given[1], grid[1]])  # grid[1] at other options: not one of the jobs given
    the_plan = plan(SweepSpec(), tmp_path, resume=True, jobs=given)
    assert isinstance(the_plan.points, JobList) and len(the_plan.points) == 3  # the repeat of grid[0] dropped
    assert the_plan.done == {1} and [job.point_id for job in the_plan.todo] == [given[0].point_id, given[2].point_id]
    assert the_plan.points.find(given[2]) == 2 and the_plan.points.find(grid[3]) is None
