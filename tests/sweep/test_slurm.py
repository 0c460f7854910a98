"""The Slurm executor's own logic, without a cluster: Slurm's commands are stand-ins on PATH or patched.

The same executor against a real single-node Slurm: tests/sweep/test_slurm_cluster.py (nox -s slurm).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from attnbench.errors import UsageError
from attnbench.results import ResultsDir
from attnbench.sweep import SweepSpec, expand, summary_text
from attnbench.sweep import slurm as slurm_mod
from attnbench.sweep.slurm import (
    SIGNAL_DELAY_S,
    JobInfo,
    JobsFile,
    Pending,
    SlurmExecutor,
    check_cluster,
    job_time_limit_min,
    query_jobs,
)
from tests.sweep.conftest import TINY, sweep


def _points(n: int = 2):
    spec = SweepSpec().replace(variants=("lstm",), axes={"seq_len": (3, 6, 9)[:n]})
    return expand(spec)


def _fake_commands(tmp_path: Path, **scripts: str) -> str:
    """A PATH whose Slurm commands are the given shell snippets (and nothing else of Slurm's)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return f"{bin_dir}{os.pathsep}/usr/bin/nonexistent"


def test_slurm_limit_leaves_room_for_start_up_and_the_warning_signal():
    for timeout in (5, 600, 3600):
        limit_s = job_time_limit_min(timeout) * 60
        # the warning signal comes SIGNAL_DELAY_S before the limit: still minutes after the point's own limit
        assert limit_s - SIGNAL_DELAY_S >= timeout + 120
    assert job_time_limit_min(600) <= 15


def test_elapsed_parses_slurm_durations():
    assert slurm_mod._elapsed("0:05") == 5
    assert slurm_mod._elapsed("1:02:03") == 3723
    assert slurm_mod._elapsed("2-00:00:01") == 2 * 86400 + 1
    assert slurm_mod._elapsed("INVALID") is None


def test_query_jobs_asks_squeue_then_sacct(tmp_path, monkeypatch):
    path = _fake_commands(
        tmp_path,
        squeue='echo "7_0|RUNNING|1:05|None"; echo "7_1|PENDING|0:00|Priority"; echo "8_0|RUNNING|0:01|None"',
        sacct='echo "7_2|CANCELLED by 0|12|0:15"',
    )
    monkeypatch.setenv("PATH", path)
    info = query_jobs(["7_0", "7_1", "7_2", "7_3"])
    assert info == {
        "7_0": JobInfo("RUNNING", 65.0),
        "7_1": JobInfo("PENDING", 0.0, reason="Priority"),
        "7_2": JobInfo("CANCELLED", 12.0, "0:15", "by 0"),
    }  # 7_3: neither knows it; 8_0: not ours


def test_query_jobs_without_accounting_and_without_a_controller(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_commands(tmp_path, squeue='echo "7_0|FAILED|0:04|NonZeroExitCode"'))
    assert query_jobs(["7_0", "7_1"]) == {"7_0": JobInfo("FAILED", 4.0, reason="NonZeroExitCode")}
    monkeypatch.setenv(
        "PATH", _fake_commands(tmp_path, squeue="echo 'slurm_load_jobs error: Invalid job id' >&2; exit 1")
    )
    assert query_jobs(["7_0"]) == {}
    monkeypatch.setenv("PATH", _fake_commands(tmp_path, squeue="echo 'Unable to contact slurm controller' >&2; exit 1"))
    assert query_jobs(["7_0"]) is None


def test_users_mistakes_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="not found: sbatch, srun, squeue, scancel, sinfo"):
        check_cluster(None)
    clients = {c: "exit 0" for c in ("sbatch", "srun", "squeue", "scancel")}
    monkeypatch.setenv(
        "PATH", _fake_commands(tmp_path, **clients, sinfo="echo 'sinfo: error: resolve_ctls_from_dns_srv' >&2; exit 1")
    )
    with pytest.raises(UsageError, match=r"no reachable Slurm \(sinfo: error: resolve_ctls_from_dns_srv\)"):
        check_cluster(None)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "nosuch.conf"))
    with pytest.raises(UsageError, match=r"SLURM_CONF='.*nosuch.conf' is not a file"):
        check_cluster(None)
    monkeypatch.delenv("SLURM_CONF")
    monkeypatch.setenv("PATH", _fake_commands(tmp_path, **clients, sinfo="echo 'debug*'; echo gpu"))
    check_cluster("gpu")
    with pytest.raises(UsageError, match=r"unknown --partition 'big'; this cluster has: debug, gpu"):
        check_cluster("big")


def test_cli_without_slurm_exits_2_with_one_line(tmp_path, out):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    done = sweep("--variants", "lstm", "--seq-len", "3", *TINY, "--executor", "slurm", "--out", str(out), env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "sbatch" in done.stderr and "Traceback" not in done.stderr


def _executor(tmp_path: Path, **kw) -> SlurmExecutor:
    return SlurmExecutor(tmp_path / "submitit", timeout_s=kw.pop("timeout_s", 0.3), poll_s=0.05, **kw)


def test_a_job_slurm_forgets_is_given_up_after_its_time_limit_and_grace(tmp_path, monkeypatch):
    results = ResultsDir(tmp_path / "out")
    (lost, unreachable) = _points(2)
    for point, answer in ((lost, {}), (unreachable, None)):
        monkeypatch.setattr(slurm_mod, "query_jobs", lambda ids, answer=answer: answer)
        executor = _executor(tmp_path, grace_s=0.5)
        rows: list = []
        t0 = time.time()
        pending = {point.point_id: Pending(point, "7_0")}
        executor._collect(pending, results, JobsFile(results.path), lambda p, r, rows=rows: rows.append(r))
        assert 0.8 <= time.time() - t0 < 5
        assert rows[0]["status"] == "error" and results.read(point.point_id)["status"] == "error"
    assert "no longer knows it" in results.read(lost.point_id)["error"]
    assert "could not be asked" in results.read(unreachable.point_id)["error"]


@pytest.mark.parametrize(("state", "status"), [("FAILED", "error"), ("TIMEOUT", "timeout"), ("OUT_OF_MEMORY", "oom")])
def test_a_job_that_ended_without_a_row_keeps_state_run_time_and_stderr(tmp_path, monkeypatch, state, status):
    results = ResultsDir(tmp_path / "out")
    (point,) = _points(1)
    executor = _executor(tmp_path)
    executor.folder.mkdir()
    (executor.folder / "7_1_0_log.err").write_text(
        "submitit INFO (2026-12-01 10:00:00,000) Starting with JobEnvironment\nsrun: error: vm: task 0: Killed\n"
    )
    monkeypatch.setattr(slurm_mod, "query_jobs", lambda ids: {"7_1": JobInfo(state, 4.0, "0:9")})
    executor._collect({point.point_id: Pending(point, "7_1")}, results, JobsFile(results.path), lambda p, r: None)
    row = results.read(point.point_id)
    assert row["status"] == status and row["wall_time_s"] == 4.0
    assert f"Slurm job 7_1 {state} (exit code 0:9)" in row["error"]
    assert row["error"].endswith("stderr: srun: error: vm: task 0: Killed")


def test_live_jobs_are_waited_for_and_rows_collected(tmp_path, monkeypatch):
    results = ResultsDir(tmp_path / "out")
    (point,) = _points(1)
    calls = []

    def query(ids):
        calls.append(list(ids))
        if len(calls) == 3:  # the job stores its row while running
            results.write({"point_id": point.point_id, "label": point.label, "status": "ok", "wall_time_s": 1.0})
        return {"7_0": JobInfo("RUNNING", 1.0)}

    monkeypatch.setattr(slurm_mod, "query_jobs", query)
    jobs = JobsFile(results.path)
    jobs.update(add={point.point_id: {"job_id": "7_0", "submitted": time.time()}})
    rows = []
    _executor(tmp_path, grace_s=0)._collect(
        {point.point_id: Pending(point, "7_0")}, results, jobs, lambda p, r: rows.append(r)
    )
    assert [r["status"] for r in rows] == ["ok"] and len(calls) == 3
    assert not jobs.path.exists()  # collected jobs leave the file


def test_resume_adopts_recorded_jobs_before_submitting(tmp_path, monkeypatch):
    results = ResultsDir(tmp_path / "out")
    running, forgotten, collected = _points(3)
    now = time.time()
    jobs = JobsFile(results.path)
    jobs.update(
        add={
            running.point_id: {"job_id": "7_0", "submitted": now},
            forgotten.point_id: {"job_id": "7_1", "submitted": now},
            collected.point_id: {"job_id": "7_2", "submitted": now, "before": None},
        }
    )
    results.write({"point_id": collected.point_id, "status": "ok"})  # stored after its run returned (--no-wait)
    monkeypatch.setattr(slurm_mod, "query_jobs", lambda ids: {"7_0": JobInfo("RUNNING", 3.0)})
    adopted = _executor(tmp_path)._adopt([running, forgotten], results, jobs)
    assert list(adopted) == [running.point_id] and adopted[running.point_id].job_id == "7_0"
    assert json.loads(jobs.path.read_text())["jobs"].keys() == {running.point_id}


def test_resume_after_every_job_finished_says_it_collected_them(tmp_path, monkeypatch, capsys):
    """A --no-wait array that finished before the rerun: nothing left to run, and the rerun says so."""
    results = ResultsDir(tmp_path / "out")
    points = _points(2)
    jobs = JobsFile(results.path)
    jobs.update(add={p.point_id: {"job_id": f"7_{i}", "submitted": 0, "before": None} for i, p in enumerate(points)})
    for p in points:
        results.write({"point_id": p.point_id, "status": "ok"})
    monkeypatch.setattr(slurm_mod, "query_jobs", lambda ids: pytest.fail("no job left to ask Slurm about"))
    assert _executor(tmp_path)._adopt([], results, jobs) == {}
    assert not jobs.path.exists()
    err = capsys.readouterr().err
    assert "collecting 2 point(s) from Slurm jobs submitted earlier (2 of them already stored)" in err


def test_the_job_enforces_the_workers_own_time_limit(tmp_path):
    (point,) = _points(1)
    code = (
        "import sys; from attnbench.sweep.slurm import slurm_job; "
        "slurm_job(sys.argv[1], sys.argv[2], None, 1.0); print('not reached')"
    )
    env = {**os.environ, "ATTNBENCH_FAULT": "hang"}
    done = subprocess.run(
        [sys.executable, "-c", code, point.to_json(), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "not reached" not in done.stdout, done.stderr
    row = ResultsDir(tmp_path / "out").read(point.point_id)
    assert row["status"] == "timeout" and row["error"] == "ran past the 1 s limit" and row["wall_time_s"] >= 1.0


def test_summary_says_what_was_left_running_and_never_a_negative_overhead():
    frame = pd.DataFrame()
    frame.attrs.update(submitted=3, wall_time_s=1.0)
    assert "3 point(s) left running on Slurm" in summary_text(frame) and "nothing ran" not in summary_text(frame)
    frame = pd.DataFrame(
        [{"label": "a", "status": "ok", "wall_time_s": 8.0}, {"label": "b", "status": "ok", "wall_time_s": 8.0}]
    )
    frame.attrs.update(wall_time_s=10.0)
    text = summary_text(frame)
    assert "in parallel jobs" in text and "-6.0" not in text


def test_an_older_row_is_not_taken_for_the_new_jobs(tmp_path, monkeypatch):
    """--retry-failed: the failed row stored before the job was submitted is not the job's result."""
    results = ResultsDir(tmp_path / "out")
    (point,) = _points(1)
    results.write({"point_id": point.point_id, "label": point.label, "status": "error", "error": "old"})
    before = slurm_mod._signature(results, point.point_id)
    monkeypatch.setattr(slurm_mod, "query_jobs", lambda ids: {"7_0": JobInfo("COMPLETED", 2.0)})
    pending = {point.point_id: Pending(point, "7_0", before)}
    _executor(tmp_path)._collect(pending, results, JobsFile(results.path), lambda p, r: None)
    row = results.read(point.point_id)
    assert "COMPLETED" in row["error"] and "filesystem the nodes share" in row["error"] and row["wall_time_s"] == 2.0
