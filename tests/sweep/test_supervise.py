"""A sweep's processes: killed or stopped, it leaves nothing running or lying around; two sweeps share a
directory without measuring a point twice; a clone of attnbench in the current directory changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.sweep.conftest import TINY

ATTNBENCH = str(Path(sys.executable).with_name("attnbench"))  # the console script, as a user runs it


def _session(sid: int) -> list[int]:
    """Processes of session ``sid`` (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _rows(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "points").glob("*.json")}


def _leftovers(out: Path, tmp: Path) -> list[str]:
    hidden = [p.name for p in (out / "points").iterdir() if p.name.startswith(".")]
    return hidden + [p.name for p in tmp.glob("pymp-*")]


def test_a_second_sweep_skips_the_point_in_flight_and_a_killed_sweep_leaves_nothing(tmp_path):
    out, tmp, clone = tmp_path / "results", tmp_path / "tmp", tmp_path / "clone"
    tmp.mkdir()
    (clone / "attnbench").mkdir(parents=True)  # a clone of the repository: `attnbench/` without __init__.py
    env = {**os.environ, "TMPDIR": str(tmp)}
    grid = ["sweep", "--variants", "lstm,rsm", "--seq-len", "3", "--memory", "2", *TINY, "--out", str(out)]
    grid += ["-p", "lstm.k_trunc=none", "--timeout", "300"]
    first = subprocess.Popen(
        [ATTNBENCH, *grid],
        env={**env, "ATTNBENCH_FAULT": "hang@lstm"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # the hung lstm point is in flight once its worker runs (sweep, tracker, forkserver, worker)
        _wait(lambda: len(_session(first.pid)) >= 4, 180, "the first sweep's worker")
        second = subprocess.run(
            [ATTNBENCH, *grid, "--resume"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 0, second.stderr
        assert f"being measured by pid {first.pid}" in second.stderr and "skipped 1 point(s)" in second.stderr
        assert {r["label"]: r["status"] for r in _rows(out).values()} == {"rsm[rho=2]": "ok"}

        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        _wait(lambda: not _session(first.pid), 30, "the killed sweep's worker, forkserver and tracker to end")
        _wait(lambda: not _leftovers(out, tmp), 10, f"no leftovers, still: {_leftovers(out, tmp)}")
    finally:
        for pid in _session(first.pid):
            os.kill(pid, signal.SIGKILL)

    third = subprocess.run([ATTNBENCH, *grid, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert sorted(r["status"] for r in _rows(out).values()) == ["ok", "ok"]
    assert not _leftovers(out, tmp)


def test_sigterm_stops_a_sweep_like_ctrl_c(tmp_path):
    out, tmp = tmp_path / "results", tmp_path / "tmp"
    tmp.mkdir()
    # a long accuracy run: the worker holds a semaphore (tqdm's lock) that a killed worker would leak
    argv = ["sweep", "--variants", "lstm", "--seq-len", "3", *TINY, "--train-steps", "1000000", "--out", str(out)]
    proc = subprocess.Popen(
        [ATTNBENCH, *argv],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait(lambda: len(_session(proc.pid)) >= 4, 180, "the worker")
        time.sleep(8)  # into its accuracy run
        proc.send_signal(signal.SIGTERM)  # what `timeout` and schedulers send, to the sweep alone
        stdout, stderr = proc.communicate(timeout=60)
        _wait(lambda: not _session(proc.pid), 30, "the sweep's processes to end")
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert stderr.strip() == (
        f"attnbench: interrupted (received SIGTERM); stored points are kept in {out} (continue with --resume)"
    )
    assert stdout == "" and not _leftovers(out, tmp)


def test_a_worker_enforces_its_own_time_limit(tmp_path):
    from attnbench.sweep import SweepSpec, expand

    spec = SweepSpec().replace(variants=["lstm"], tasks=["copy"], axes={"seq_len": [3]}, batch=2, hidden_size=4)
    point = expand(spec)[0]
    code = f"from attnbench.sweep.worker import run_point; run_point({point.to_json()!r}, {str(tmp_path)!r}, None, 1.0)"
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "ATTNBENCH_FAULT": "hang"}, capture_output=True, timeout=120
    )
    assert done.returncode == 124 and time.time() - started < 60
    [row] = _rows(tmp_path).values()
    assert row["status"] == "timeout" and row["error"] == "ran past the 1 s limit"


def test_a_claim_is_exclusive_while_held_and_free_once_its_holder_is_gone(tmp_path):
    from attnbench.sweep.supervise import PointClaim

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from attnbench.sweep.supervise import PointClaim; "
            f"assert PointClaim(Path({str(tmp_path)!r}), 'p').acquire(); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        claim = PointClaim(tmp_path, "p")
        assert not claim.acquire() and claim.holder().startswith(f"pid {holder.pid} on ")
    finally:
        holder.kill()
        holder.wait()
    assert claim.acquire()  # the kernel dropped the dead holder's lock: the claim is not stale
    assert not PointClaim(tmp_path, "p").acquire()
    claim.release()
    assert not claim.path.exists()


def test_stopping_a_worker_removes_the_file_it_was_writing(tmp_path):
    from types import SimpleNamespace

    from attnbench.results import ResultsDir
    from attnbench.sweep.executors import _stop

    results = ResultsDir(tmp_path)
    (results.points / ".tmp-p1-x1y2.json").write_text('{"point_id": "p1", ')  # cut short by the stop
    (results.points / ".tmp-p2-x1y2.json").write_text('{"point_id": "p2", ')  # another writer's: kept
    _stop(SimpleNamespace(pid=None), results, SimpleNamespace(point_ids=["p1"]))
    assert sorted(p.name for p in results.points.iterdir()) == [".tmp-p2-x1y2.json"]
