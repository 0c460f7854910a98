"""attnbench reproduce on the command line: a sweep into --out, resumed, its JSON table written atomically, run on
Slurm's executor like any sweep, killed and resumed, and its one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from attnbench.cli import main
from tests.sweep.test_supervise import ATTNBENCH, _leftovers, _session, _wait

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--delay", "2", "--long-delay", "3", "--transfer", "4", "--steps", "1", "--batch", "2", "--hidden", "4",
        "--eval-batches", "1", "--seeds", "0,1", "--no-progress"]  # fmt: skip


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}


def test_reproduce_command_tiny_stores_points_resumes_and_writes_the_table(tmp_path, capsys):
    out, path = tmp_path / "results", tmp_path / "r.json"
    argv = ["reproduce", *TINY, "--runs", "lstm_tbptt,rsm", "--workers", "2", "--out", str(out), "--json", str(path)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| lstm, truncated BPTT (k_trunc=5) | T=2 | 1 |" in text and "| rsm (nu=10, rho=15) | T=2 | 1 |" in text
    assert "measured 4 of the 4 point(s) (0 were stored already)" in text
    assert "rsm is not in the default runs" not in text
    rows = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    assert sorted((r["label"], r["seed"], r["status"]) for r in rows) == [
        (label, seed, "ok") for label in ("lstm[k_trunc=5]", "rsm") for seed in (0, 1)
    ]
    assert all(r["val_curve"] and json.loads(r["transfer_scores"]).keys() == {"4"} for r in rows)
    data = json.loads(path.read_text())
    assert data["format"] == "attnbench-reproduce" and data["version"] == 3 and data["complete"] is True
    assert data["results"] == str(out) and data["points"] == {"expected": 4, "stored": 4}
    assert data["config"]["delay"] == 2 and data["config"]["seeds"] == [0, 1]
    assert [(t["run"], t["delay"]) for t in data["table"]] == [(k, d) for k in ("lstm_tbptt", "rsm") for d in (2, 4)]
    before = _mtimes(out)

    assert main(argv) == 2  # a second run into the folder without --resume: refused, nothing overwritten
    assert "already holds 4 stored point(s); pass --resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "measured 0 of the 4 point(s) (4 were stored already)" in capsys.readouterr().out
    assert _mtimes(out) == before and json.loads(path.read_text())["table"] == data["table"]


def test_the_json_table_is_written_atomically(tmp_path, monkeypatch):
    from attnbench.cli import reproduce_cmd

    path = tmp_path / "r.json"
    reproduce_cmd.write_json(str(path), {"table": [1]})

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)  # the write goes through attnbench.results' atomic writer
    with pytest.raises(reproduce_cmd.UsageError, match="cannot write: No space left on device"):
        reproduce_cmd.write_json(str(path), {"table": [2]})
    assert json.loads(path.read_text()) == {"table": [1]} and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_reproduce_runs_on_the_sweeps_slurm_executor(tmp_path, capsys, monkeypatch):
    """--executor slurm hands the points to the sweep's Slurm executor, with its flags (here a stand-in that
    runs each array task in this process)."""
    from attnbench.sweep import slurm
    from attnbench.sweep.worker import run_point

    seen: dict = {}

    def fake_run(self, points, results, done):
        seen.update(self.slurm, n=0)
        for group in points:  # one array task per replicate group: a run's seeds train together
            run_point(group.to_json(), str(results.path))
            seen["n"] += 1
            for job in group.jobs:
                done(job, results.read(job.point_id))

    monkeypatch.setattr(slurm.SlurmExecutor, "check", lambda self: None)
    monkeypatch.setattr(slurm.SlurmExecutor, "run", fake_run)
    out = tmp_path / "results"
    argv = ["reproduce", *TINY, "--runs", "lstm", "--out", str(out), "--executor", "slurm", "--partition", "gpu"]
    assert main(argv) == 0
    assert seen == {"partition": "gpu", "n": 1}  # lstm's two seeds: one group
    assert "measured 2 of the 2 point(s)" in capsys.readouterr().out and len(_mtimes(out)) == 2


@pytest.mark.slow
def test_a_killed_reproduction_leaves_no_worker_and_a_rerun_resumes(tmp_path):
    """kill -9 of reproduce's main process: the sweep's reaper ends the worker in flight; --resume keeps the
    point stored and runs only the rest (issue 24, reproduce under faults)."""
    out, tmp = tmp_path / "results", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    # sab runs first (the most expensive), then lstm's point hangs: killed while it is in flight
    argv = [ATTNBENCH, "reproduce", *TINY, "--seeds", "0", "--runs", "lstm,sab", "--workers", "1", "--out", str(out)]
    first = subprocess.Popen(argv, env={**env, "ATTNBENCH_FAULT": "hang@lstm"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        _wait(lambda: len(_mtimes(out)) == 1 and len(_session(first.pid)) >= 4, 180, "sab stored, lstm in flight")
        stored = _mtimes(out)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        _wait(lambda: not _session(first.pid), 30, "the killed reproduction's worker, forkserver and tracker to end")
        _wait(lambda: not _leftovers(out, tmp), 10, f"no leftovers, still: {_leftovers(out, tmp)}")
    finally:
        for pid in _session(first.pid):
            os.kill(pid, signal.SIGKILL)
    assert b"Traceback" not in first.stderr.read()
    again = subprocess.run([*argv, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "measured 1 of the 2 point(s) (1 were stored already)" in again.stdout
    rows = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    assert sorted((r["variant"], r["status"]) for r in rows) == [("lstm", "ok"), ("sab", "ok")]
    assert all(_mtimes(out)[name] == t for name, t in stored.items())  # the stored point was not trained again
    assert "Traceback" not in again.stderr and not _leftovers(out, tmp)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--delay", "0"], "delay=0 is not allowed"),
        (["--transfer", "a,b"], "--transfer 'a,b': expected comma-separated integers"),
        (["--seeds", "x"], "--seeds 'x': expected comma-separated integers"),
        (["--runs", "lstm,nope"], "unknown run 'nope'"),
        (["--variants", "nope"], "unknown run 'nope'"),
        (["--steps", "-1"], "steps=-1 is not allowed"),
        (["--workers", "0"], "workers=0 is not allowed"),
        (["--timeout", "0"], "timeout_s=0.0 is not allowed"),
        (["--max-memory", "lots"], "'lots' is not a memory size"),
        (["--long-delay", "5"], "long delay 5 is not longer"),
        (["--executor", "cloud"], "unknown executor 'cloud'"),
        (["--partition", "gpu"], "--partition only apply with --executor slurm"),
        (["--executor", "local", "--workers", "2"], "--workers 2 only applies to the process executor"),
    ],
)
def test_bad_command_line_is_one_line_exit_2(tmp_path, capsys, argv, message):
    assert main(["reproduce", *argv, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnbench: error: ") and "\n" not in err and message in err
    assert not (tmp_path / "r" / "points").exists() or not any((tmp_path / "r" / "points").iterdir())


def test_help_prints_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # the help wraps lines
    assert "95% interval" in text and "reach 99%" in text and "%%" not in text
