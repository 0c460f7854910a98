"""Running sweeps: isolation (crash, kill, out of memory, time limit), resume, interrupts, storage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from attnbench.results import load
from tests.sweep.conftest import TINY, sweep

GRID = ["--variants", "lstm,rsm", "--seq-len", "3,6", "--memory", "2", "-p", "lstm.k_trunc=none", *TINY]


def _rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "points").glob("*.json")}


def test_sweep_stores_one_row_per_point_and_summarises(out):
    done = sweep(*GRID, "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())
    assert "start-up and bookkeeping" in done.stdout and "status: ok 4" in done.stdout
    frame = load(out)
    assert set(frame["label"]) == {"lstm", "rsm[rho=2]"}
    assert frame["step_time_s"].notna().all() and (frame["saved_bytes"] > 0).all()
    assert (out / "manifest.json").exists()


def test_failures_are_recorded_and_cost_nothing_else(out):
    env = {**os.environ, "ATTNBENCH_FAULT": "kill@lstm"}
    done = sweep(*GRID, "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    by_status = {r["label"]: r["status"] for r in rows.values()}
    assert by_status == {"lstm": "error", "rsm[rho=2]": "ok"}
    killed = next(r for r in rows.values() if r["label"] == "lstm")
    assert "SIGKILL" in killed["error"] and killed["variant"] == "lstm" and killed["seq_len"] in (23, 26)

    oom = out.parent / "oom"
    done = sweep(*GRID, "--out", str(oom), env={**os.environ, "ATTNBENCH_FAULT": "oom@rsm[rho=2]"})
    assert done.returncode == 0, done.stderr
    statuses = sorted((r["label"], r["status"]) for r in _rows(oom).values())
    assert statuses == [("lstm", "ok"), ("lstm", "ok"), ("rsm[rho=2]", "oom"), ("rsm[rho=2]", "oom")]
    assert all("out of memory" in r["error"] for r in _rows(oom).values() if r["status"] == "oom")


def test_time_limit(out):
    env = {**os.environ, "ATTNBENCH_FAULT": "hang@lstm"}
    done = sweep(*GRID, "--seq-len", "3", "--timeout", "10", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    statuses = {r["label"]: (r["status"], r["error"]) for r in _rows(out).values()}
    assert statuses["lstm"][0] == "timeout" and "10 s limit" in statuses["lstm"][1]
    assert statuses["rsm[rho=2]"][0] == "ok"


def test_workers_run_points_side_by_side_with_the_same_isolation(out):
    # one worker hangs (timeout), the other keeps going: the hung point costs its time limit, not the sweep's
    env = {**os.environ, "ATTNBENCH_FAULT": "hang@lstm"}
    done = sweep(
        *GRID, "--seq-len", "3", "--seeds", "0,1", "--workers", "2", "--timeout", "15", "--out", str(out), env=env
    )
    assert done.returncode == 0, done.stderr
    rows = list(_rows(out).values())
    assert sorted((r["label"], r["seed"], r["status"]) for r in rows) == [
        *(("lstm", s, "timeout") for s in (0, 1)),
        *(("rsm[rho=2]", s, "ok") for s in (0, 1)),
    ]
    # the first two points (lstm, seeds 0 and 1) ran at the same time: their [start, end] windows overlap
    spans = {}
    for r in rows:
        end = datetime.fromisoformat(r["timestamp"]).timestamp()
        spans[(r["label"], r["seed"])] = (end - r["wall_time_s"], end)
    (s0, e0), (s1, e1) = spans[("lstm", 0)], spans[("lstm", 1)]
    assert max(s0, s1) < min(e0, e1) - 10
    assert not list((out / "points").glob(".claim-*")) and not list((out / "points").glob(".tmp-*"))


def test_workers_need_the_process_executor(out):
    done = sweep(*GRID, "--workers", "2", "--executor", "local", "--out", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--workers 2" in done.stderr
    assert not out.exists() or not list((out / "points").glob("*.json"))


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupted_sweep_resumes_without_measuring_twice(out, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    grid = [
        "--variants",
        "lstm,rsm",
        "--seq-len",
        "3,6,9",
        "--memory",
        "2",
        "-p",
        "lstm.k_trunc=none",
        *TINY,
        "--out",
        str(out),
    ]
    # rsm's points hang, so Ctrl-C is certain to land mid-sweep (with tiny points the whole grid can
    # otherwise finish between two polls on a fast machine). SIGINT's default is restored in the child:
    # a test run started in the background (`cmd &` in a script) inherits SIGINT ignored, and Python then
    # rightly leaves Ctrl-C ignored, as a background job should.
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnbench", "sweep", *grid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "ATTNBENCH_FAULT": "hang@rsm[rho=2]", "TMPDIR": str(tmp)},
        preexec_fn=_default_sigint,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "points").glob("[!.]*.json"))) < 2:  # not .tmp-* files
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    first = _rows(out)
    assert 2 <= len(first) < 6 and "interrupted" in stderr and "interrupted" not in stdout
    for noise in ("Traceback", "ForkServerProcess", "leaked semaphore", "KeyboardInterrupt"):
        assert noise not in stderr, stderr
    time.sleep(1)  # the reaper's clean-up once the sweep has exited
    leftovers = [p.name for p in (out / "points").iterdir() if p.name.startswith(".")] + list(tmp.glob("pymp-*"))
    assert not leftovers
    assert all(r["status"] == "ok" for r in first.values())
    stamps = {pid: (out / "points" / f"{pid}.json").stat().st_mtime_ns for pid in first}

    refused = sweep(*grid)
    assert refused.returncode == 2 and "--resume" in refused.stderr and refused.stderr.count("\n") == 1

    done = sweep(*grid, "--resume")
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows.values())
    for pid, stamp in stamps.items():  # stored points were not measured again
        assert (out / "points" / f"{pid}.json").stat().st_mtime_ns == stamp
    again = sweep(*grid, "--resume")
    assert "nothing ran" in again.stdout


def test_dry_run_lists_points_and_cost(out):
    done = sweep(
        "--variants",
        "lstm,sab",
        "--seq-len",
        "5,10",
        "--memory",
        "2",
        "--top-k",
        "1,3",
        *TINY,
        "--out",
        str(out),
        "--dry-run",
    )
    assert done.returncode == 0, done.stderr
    assert "GFLOP" in done.stdout and "k_top=3 exceeds max_mem=2" in done.stdout
    assert not (out / "points").exists() or not list((out / "points").glob("*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variants", "gru"], "unknown variant 'gru'; known variants:"),
        (["--seq-len", "0"], "seq_len value=0 is not allowed"),
        (["--seq-len", "ten"], "'ten' in 'ten' is not an integer"),
        (["-p", "sab.k_top=0", "--variants", "sab"], "k_top=0 is not allowed"),
        (["-p", "k_top=0"], "expected OWNER.NAME=VALUE"),
        (["nonexistent.toml"], "cannot read sweep spec 'nonexistent.toml'"),
        (["--executor", "kubernetes"], "unknown executor 'kubernetes'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(out, args, message):
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = sweep(*args, *TINY, "--out", str(out), "--resume")
    assert done.returncode == 2
    assert done.stderr.startswith("attnbench: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_submitit_local_executor(out):
    done = sweep(
        "--variants",
        "lstm",
        "--seq-len",
        "3",
        "-p",
        "lstm.k_trunc=none",
        *TINY,
        "--executor",
        "local",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == 1 and next(iter(rows.values()))["status"] == "ok"
    assert (out / "submitit").is_dir()


def test_two_sweeps_into_one_directory_corrupt_nothing(out):
    grid = ["--variants", "lstm", "--seq-len", "3,6", "-p", "lstm.k_trunc=none", *TINY, "--out", str(out), "--resume"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "attnbench", "sweep", *grid],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    rows = _rows(out)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows.values())
    with pytest.warns(UserWarning, match="skipped 1 damaged"):
        (out / "points" / "broken.json").write_text('{"point_id": "x", ')
        assert len(load(out)) == 2
