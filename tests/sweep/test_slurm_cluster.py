"""``--executor slurm`` against a real Slurm: `nox -s slurm` stands up a single-node cluster for these.

Run only with ``-m slurm`` (the default run leaves them out). Without a reachable Slurm they skip and
say why; with ATTNBENCH_REQUIRE_SLURM=1 (CI, where the nox session starts a cluster) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from attnbench.sweep.slurm import JOBS_FILE, LIVE, job_time_limit_min, query_jobs
from attnbench.sweep.spec import EXECUTION
from tests.sweep.conftest import TINY, sweep

pytestmark = pytest.mark.slurm

GRID = ["--variants", "lstm,rsm", "--seq-len", "3", "--memory", "2", "-p", "lstm.k_trunc=none", *TINY]
LSTM = ["--variants", "lstm", "--seq-len", "3", "-p", "lstm.k_trunc=none", *TINY]  # one point: a plain job
SLURM = ["--executor", "slurm"]


def _unavailable() -> str | None:
    if shutil.which("sbatch") is None:
        return "no Slurm client commands on PATH (`nox -s slurm` stands up a single-node cluster)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "scontrol ping did not answer within 30 s"
    if "UP" not in ping.stdout:
        return f"no Slurm controller answers (scontrol ping: {(ping.stdout + ping.stderr).strip()[:200]})"
    return None


@pytest.fixture(scope="module", autouse=True)
def cluster() -> None:
    reason = _unavailable()
    if reason:
        if os.environ.get("ATTNBENCH_REQUIRE_SLURM"):
            pytest.fail(f"ATTNBENCH_REQUIRE_SLURM is set, but {reason}")
        pytest.skip(reason)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sweep(*args: str, cwd: Path | None = None, fault: str | None = None, timeout: float = 240):
    env = {**os.environ, **({"ATTNBENCH_FAULT": fault} if fault else {})}
    return sweep(*args, env=env, timeout=timeout, cwd=cwd)


def _start(*args: str, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **({"ATTNBENCH_FAULT": fault} if fault else {})}
    cmd = [sys.executable, "-m", "attnbench", "sweep", *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint
    )


def _rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "points").glob("*.json")}


def _by_label(out: Path) -> dict[str, dict]:
    return {r["label"]: r for r in _rows(out).values()}


def _job_logs(out: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((out / "submitit").glob("*_log.out")))


def _stored_counts(out: Path) -> Counter:
    """How many jobs stored each point (the jobs' own log lines, across every submission)."""
    return Counter(re.findall(r"attnbench: point (\S+) stored as", _job_logs(out)))


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _no_live_jobs(job_ids: list[str]) -> bool:
    info = query_jobs(job_ids)
    return info is not None and not any(j.state in LIVE for j in info.values())


def test_happy_path_relative_out_resume_and_report(tmp_path):
    done = _sweep(*GRID, *SLURM, "--out", "results", cwd=tmp_path)  # relative: jobs get the absolute path
    assert done.returncode == 0, done.stderr
    out = tmp_path / "results"
    assert {r["status"] for r in _rows(out).values()} == {"ok"} and len(_rows(out)) == 2
    assert "status: ok 2" in done.stdout and "-o reports/results" in done.stdout
    assert re.search(r"submitted 2 point\(s\) as Slurm job \d+", done.stderr)
    script = next((out / "submitit").glob("*_submission.sh")).read_text()
    # a flag-only sweep takes the declared default limit per point (not a preset's), plus start-up
    assert f"#SBATCH --time={job_time_limit_min(EXECUTION['timeout_s'].default)}\n" in script
    assert not (out / JOBS_FILE).exists()  # every job collected
    assert {p.suffix for p in out.rglob("*") if p.is_file() and "submitit" not in p.parts} == {".json"}

    again = _sweep(*GRID, *SLURM, "--out", "results", "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing ran" in again.stdout and "as Slurm job" not in again.stderr
    assert "No submission happened" not in again.stderr and "Warning" not in again.stderr

    report = subprocess.run(
        [sys.executable, "-m", "attnbench", "report", "results", "-o", "report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "index.html").exists()


def test_a_killed_job_is_an_error_with_its_stderr_and_run_time(tmp_path):
    out = tmp_path / "results"
    t0 = time.time()
    done = _sweep(*GRID, *SLURM, "--out", str(out), fault="kill@lstm")
    assert done.returncode == 0, done.stderr
    rows = _by_label(out)
    assert rows["rsm[rho=2]"]["status"] == "ok"
    killed = rows["lstm"]
    assert killed["status"] == "error"
    assert re.search(r"Slurm job \d+_\d+ FAILED", killed["error"]) and "Killed" in killed["error"], killed["error"]
    assert 0 <= killed["wall_time_s"] < time.time() - t0  # the job's own run time, not the wait to collect it


def test_a_cancelled_job_is_noticed_at_once(tmp_path):
    out = tmp_path / "results"
    sweep = _start(*LSTM, *SLURM, "--timeout", "300", "--out", str(out), fault="hang@lstm")
    try:
        jobs = out / JOBS_FILE
        _wait_for(lambda: jobs.exists() and "lstm" in jobs.read_text(), 60, "the submission")
        job_id = next(e["job_id"] for e in json.loads(jobs.read_text())["jobs"].values() if e["label"] == "lstm")
        _wait_for(lambda: "(lstm)" in _job_logs(out), 60, "the lstm point to start")
        subprocess.run(["scancel", job_id], check=True)
        _, stderr = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, stderr
    row = _by_label(out)["lstm"]
    assert row["status"] == "error" and f"Slurm job {job_id} CANCELLED" in row["error"], row["error"]


def test_a_point_past_its_time_limit_is_a_timeout(tmp_path):
    out = tmp_path / "results"
    done = _sweep(*GRID, *SLURM, "--timeout", "10", "--out", str(out), fault="hang@lstm")
    assert done.returncode == 0, done.stderr
    rows = _by_label(out)
    assert rows["rsm[rho=2]"]["status"] == "ok"  # not cut short by Slurm or submitit's warning signal
    assert rows["lstm"]["status"] == "timeout" and rows["lstm"]["error"] == "ran past the 10 s limit"
    assert 10 <= rows["lstm"]["wall_time_s"] < 30


def test_ctrl_c_cancels_the_sweeps_jobs_and_resume_measures_each_point_once(tmp_path):
    out = tmp_path / "results"
    grid = [*GRID, *SLURM, "--parallel", "1", "--out", str(out)]  # one job at a time: the second is cut
    sweep = _start(*grid)
    try:
        _wait_for(lambda: len(_rows(out)) >= 1, 120, "the first point")
        submitted = [e["job_id"] for e in json.loads((out / JOBS_FILE).read_text())["jobs"].values()]
        sweep.send_signal(signal.SIGINT)
        _, stderr = sweep.communicate(timeout=90)
    finally:
        sweep.kill()
    assert sweep.returncode == 130, stderr
    assert "cancelled" in stderr and "--resume" in stderr + _
    assert _no_live_jobs(submitted)  # nothing left running beside what --resume submits
    assert len(_rows(out)) == 1

    resumed = _sweep(*grid, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = _rows(out)
    assert len(rows) == 2 and {r["status"] for r in rows.values()} == {"ok"}
    assert "status: ok 1" in resumed.stdout
    counts = _stored_counts(out)
    assert set(counts) == set(rows) and set(counts.values()) == {1}, counts  # no point measured twice


def test_no_wait_then_resume_collects_instead_of_resubmitting(tmp_path):
    out = tmp_path / "results"
    done = _sweep(*GRID, *SLURM, "--no-wait", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "2 point(s) left running on Slurm" in done.stdout and "nothing ran" not in done.stdout
    recorded = json.loads((out / JOBS_FILE).read_text())["jobs"]
    assert len(recorded) == 2

    collected = _sweep(*GRID, *SLURM, "--resume", "--out", str(out))
    assert collected.returncode == 0, collected.stderr
    assert "as Slurm job" not in collected.stderr and "collecting 2 point(s)" in collected.stderr
    rows = _rows(out)
    assert len(rows) == 2 and {r["status"] for r in rows.values()} == {"ok"}
    assert not (out / JOBS_FILE).exists()
    assert Counter(re.findall(r"measuring point (\S+)", _job_logs(out))) == Counter(dict.fromkeys(rows, 1))

    again = _sweep(*GRID, *SLURM, "--resume", "--out", str(out))
    assert again.returncode == 0 and "nothing ran" in again.stdout and "as Slurm job" not in again.stderr


def test_an_unknown_partition_is_one_line_and_exit_2(tmp_path):
    done = _sweep(*GRID, *SLURM, "--partition", "nosuch", "--out", str(tmp_path / "results"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown --partition 'nosuch'" in done.stderr
