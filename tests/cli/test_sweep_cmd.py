"""``attnbench sweep`` refuses, in one line and before any point runs, what every point would fail on.

A value each worker would reject, a folder that cannot hold results, a Slurm flag given to another
executor: exit code 2, one line on stderr naming the value and what is allowed, no traceback, and
nothing already stored is touched. A disk that fills mid-sweep ends the same way, keeping every row
stored before.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from attnbench.cli import main
from attnbench.config import Job, Options, Point, config_columns
from attnbench.results import ResultsDir, load
from attnbench.sweep import executors, worker
from tests.sweep.conftest import THREE_POINTS, TINY, built_fixture, sweep  # noqa: F401 (built_fixture: the fixture `built`)

ONE = ["--variants", "lstm", "--seq-len", "3", "-p", "lstm.k_trunc=none", "--seeds", "0", "--workers", "1", *TINY]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    """A results folder that already holds a (made-up) stored point and a file of the user's."""
    out = tmp_path / "kept"
    ResultsDir(out).write({"point_id": "lstm-copy-0000000000000000", "status": "ok", "variant": "lstm"})
    (out / "notes.txt").write_text("mine")
    return out


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("attnbench: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


SPEC_FILES = [
    # values that planning accepted and every worker then rejected (a sweep of nothing but error rows)
    (
        "s.toml",
        'variants = ["lstm"]\nseeds = ["a"]\n',
        "seed='a' is not allowed; expected an integer in [0, 9223372036854775807]",
    ),
    ("s.toml", 'variants = ["lstm"]\nthreads = 2.5\n', "threads=2.5 is not allowed; expected an integer >= 1"),
    ("s.toml", 'variants = ["lstm"]\nwarmup = 1e400\n', "warmup=inf is not allowed; expected an integer >= 0"),
    ("s.yaml", "variants: [lstm]\nbatch: 4.5\n", "batch=4.5 is not allowed; expected an integer >= 1"),
    # values that ended in a traceback
    ("s.toml", 'variants = [["lstm"]]\n', "variants entry ['lstm'] is not allowed; expected variant names"),
    ("s.toml", "tasks = [1]\n", "tasks entry 1 is not allowed; expected task names"),
    ("s.toml", 'variants = ["lstm"]\ndevice = 5\n', "device=5 is not allowed (unknown device); expected cpu, cuda"),
    ("s.toml", 'variants = ["lstm"]\ntimeout_s = 1e300\n', "timeout_s=1e+300 is not allowed; expected a number in ("),
    ("s.toml", 'variants = ["lstm"]\nmax_memory = "1e400"\n', "'1e400' is not a memory size"),
]


@pytest.mark.parametrize(("name", "text", "message"), SPEC_FILES)
def test_bad_spec_values_are_refused_before_any_point_runs(tmp_path, kept, capsys, name, text, message):
    spec = tmp_path / name
    spec.write_text(text)
    before = _snapshot(kept)
    code = main(["sweep", str(spec), "--out", str(kept), "--resume", "--no-progress"])
    _one_line_error(capsys, code, str(spec), message)
    assert _snapshot(kept) == before


def test_a_spec_file_that_is_not_utf8_is_one_line(tmp_path, kept, capsys):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes('variants = ["lstm"]  # café\n'.encode("latin-1"))
    code = main(["sweep", str(spec), "--out", str(kept), "--resume"])
    _one_line_error(capsys, code, "is not UTF-8 text (byte 0xe9 at offset 26)", "save it as UTF-8")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "inf"], "lr=inf is not allowed; expected a number > 0"),
        # every point an error row ("Overflow when unpacking long long"), exit 0
        (
            ["--seeds", "100000000000000000000000"],
            "seed=100000000000000000000000 is not allowed; expected an integer in [0, ",
        ),
        # a target the metric cannot take: never reached (2), reached at once (-5), stored as null (inf)
        (["--target", "2"], "task copy scores accuracy: target=2.0 is not allowed; expected a number in [0, 1]"),
        (["--target", "-5"], "task copy scores accuracy: target=-5.0 is not allowed"),
        (["--target", "inf"], "target=inf is not allowed; expected a finite number"),
        (["--timeout", "inf"], "timeout_s=inf is not allowed; expected a number in (0, 604800]"),
        (["--timeout", "nan"], "timeout_s=nan is not allowed"),
        (["--timeout", "1e300"], "timeout_s=1e+300 is not allowed"),  # overflowed the wait after a point started
        (["--max-memory", "1e400"], "'1e400' is not a memory size; expected a finite size of at least 1 byte"),
        (["--max-memory", "inf"], "'inf' is not a memory size"),
        (["--max-memory", "0.5"], "'0.5' is not a memory size"),  # 0 bytes: no limit at all, silently
        (["--partition", "gpu"], "--partition only apply with --executor slurm"),
        (["--gpus", "1", "--no-wait"], "--gpus, --no-wait only apply with --executor slurm"),
        (["--executor", "local", "--mem-gb", "4"], "this sweep's executor is 'local'"),
    ],
)
def test_bad_flags_are_refused_before_any_point_runs(kept, capsys, flags, message):
    before = _snapshot(kept)
    code = main(["sweep", *ONE, *flags, "--out", str(kept), "--resume"])
    _one_line_error(capsys, code, message)
    assert _snapshot(kept) == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_a_device_this_machine_lacks_is_refused_before_any_point_runs(tmp_path, capsys):
    out = tmp_path / "cuda"
    code = main(["sweep", *ONE, "--device", "cuda", "--out", str(out)])
    _one_line_error(capsys, code, "device 'cuda' asked for, but CUDA is not available")
    assert not out.exists()
    assert main(["sweep", *ONE, "--device", "cuda", "--out", str(out), "--dry-run"]) == 0  # planning elsewhere is fine


def test_a_task_that_cannot_be_built_here_is_refused_before_any_point_runs(tmp_path, kept, capsys):
    before = _snapshot(kept)
    code = main(["sweep", *ONE, "--tasks", "mnist", "--out", str(kept), "--resume"])  # mnist without its path
    _one_line_error(capsys, code, "mnist: path is required")
    assert _snapshot(kept) == before
    code = main(
        ["sweep", *ONE, "--tasks", "mnist", "--task-param", f"mnist.path={tmp_path}", "--out", str(kept), "--resume"]
    )
    _one_line_error(capsys, code, f"{tmp_path}: no train-images-idx3-ubyte")  # a folder without the IDX files
    assert _snapshot(kept) == before


def test_out_under_an_existing_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    code = main(["sweep", *ONE, "--out", str(tmp_path / "afile" / "sub")])
    _one_line_error(capsys, code, "cannot hold results: ", "afile' is a file")
    assert (tmp_path / "afile").read_text() == "mine"


def test_an_axis_overridden_by_a_fixed_parameter_is_said(tmp_path, capsys):
    args = ["sweep", *ONE, "--seq-len", "5,6", "--task-param", "copy.seq_len=7", "--dry-run", "--out", str(tmp_path)]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err == (
        "attnbench: warning: task parameter copy.seq_len=7 overrides the seq_len axis (5, 6) for copy; "
        "give one of them\n"
    )
    assert "1 point(s) to run" in captured.out
    rsm = ["--variants", "rsm", "--seq-len", "3", "--memory", "2,4", "-p", "rsm.rho=8", *TINY]
    assert main(["sweep", *rsm, "--dry-run", "--out", str(tmp_path)]) == 0
    assert "variant parameter rsm.rho=8 overrides the memory axis (2, 4) for rsm" in capsys.readouterr().err
    main(["sweep", *ONE, "--dry-run", "--out", str(tmp_path)])
    assert capsys.readouterr().err == ""
    # the axis still applies to another task: a note, not a warning (the quick preset fixes adding's length)
    both = ["sweep", *ONE, "--tasks", "copy,adding", "--seq-len", "5,6", "--task-param", "adding.seq_len=7"]
    assert main([*both, "--dry-run", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == (
        "attnbench: note: task parameter adding.seq_len=7 is fixed, so the seq_len axis (5, 6) applies to the "
        "other tasks\n"
    )


def _make_read_only(folder: Path) -> bool:
    """Make ``folder`` refuse new files, for root too (chattr +i); False where this cannot be done here."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def _undo_read_only(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_a_read_only_results_folder_is_one_line_before_measuring(tmp_path):
    out = tmp_path / "ro"
    first = sweep(*ONE, "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = _snapshot(out)
    if not _make_read_only(out / "points"):
        pytest.skip("cannot make a folder read-only for root here (no chattr)")
    try:
        done = sweep(*ONE, "--seq-len", "3,6", "--out", str(out), "--resume")  # one point stored, one to run
    finally:
        _undo_read_only(out / "points")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"attnbench: error: --out {str(out)!r} cannot hold results: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert _snapshot(out) == before  # nothing measured, nothing lost


FULL_DISK = textwrap.dedent(
    """
    import errno, os, sys
    from attnbench import results
    from attnbench.cli import main

    def full(self, row):  # the sweep's own writes (a killed worker's row): the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    results.ResultsDir.write = full
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_full_disk_is_one_line_and_keeps_what_is_stored(tmp_path):
    out = tmp_path / "full"
    args = ["sweep", *ONE, "--variants", "lstm,rsm", "--memory", "2", "--out", str(out)]
    env = {**os.environ, "ATTNBENCH_FAULT": "kill@rsm[rho=2]"}  # lstm stores its row; rsm's must be stored for it
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"attnbench: error: cannot store results in {str(out)!r}: No space left on device")
    assert "the 1 point(s) stored are kept" in done.stderr and "--resume" in done.stderr
    frame = load(out)
    assert list(frame["label"]) == ["lstm"] and list(frame["status"]) == ["ok"]


def test_a_worker_that_cannot_store_its_row_exits_quietly(tmp_path, monkeypatch, capsys):
    def full(self, row):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ResultsDir, "write", full)
    job = Job(Point.make("lstm", "copy", seq_len=3, batch=2, hidden_size=4), Options(warmup=0, repeats=1, reach=False))
    with pytest.raises(SystemExit) as info:
        worker.run_point(job.to_json(), str(tmp_path / "full"))
    assert info.value.code == worker.STORE_FAILED and capsys.readouterr().err == ""
    status, message = executors._exit_message(worker.STORE_FAILED)
    assert status == "error" and "could not store it" in message


# A grid of a million points: planned, counted and dry-run without building its points.
MILLION = ["--variants", "lstm", "-p", "lstm.k_trunc=none", "--seq-len", ",".join(map(str, range(5, 1005)))]
MILLION += ["--seeds", ",".join(map(str, range(1000)))]


def test_the_dry_run_of_a_million_points_builds_only_the_rows_it_lists(tmp_path, capsys, built):
    from attnbench.cli.sweep_cmd import DRY_RUN_ROWS

    assert main(["sweep", *MILLION, "--dry-run", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert f"... and {1_000_000 - DRY_RUN_ROWS:,} more point(s) (the first {DRY_RUN_ROWS} are listed)" in out
    assert "\n1,000,000 point(s) to run (0 already stored), 0 skipped as nonsense; about " in out
    assert "time: at most " in out
    assert built[0] <= DRY_RUN_ROWS + 5
    assert not (tmp_path / "r").exists()


def test_a_million_points_to_run_ask_for_yes_in_one_line(tmp_path, kept, capsys, built):
    code = main(["sweep", *MILLION, "--out", str(tmp_path / "r")])
    err = _one_line_error(capsys, code, "this sweep has 1,000,000 points to run (more than 5,000)")
    assert err.rstrip().endswith("look at it with --dry-run, then pass --yes to run it")
    assert not (tmp_path / "r").exists()
    before = _snapshot(kept)  # resuming: the stored point (not one of this grid's) is counted out of nothing
    code = main(["sweep", *MILLION, "--out", str(kept), "--resume"])
    _one_line_error(capsys, code, "this sweep has 1,000,000 points to run")
    assert _snapshot(kept) == before and built[0] <= 5


@pytest.fixture
def ran(monkeypatch):
    """The plans ``attnbench sweep`` would run (nothing is measured)."""
    import pandas as pd

    import attnbench.sweep

    plans = []

    def record(spec, out, executor, the_plan, progress=True):
        plans.append(the_plan)
        return pd.DataFrame()

    monkeypatch.setattr(attnbench.sweep, "run", record)
    return plans


def test_yes_runs_a_sweep_past_the_threshold_and_says_how_long_it_may_take(tmp_path, capsys, monkeypatch, ran):
    import attnbench.cli.sweep_cmd as cmd

    monkeypatch.setattr(cmd, "CONFIRM_POINTS", 2)
    out = tmp_path / "r"
    argv = [*THREE_POINTS, "--workers", "1", "--out", str(out)]
    _one_line_error(capsys, main(argv), "this sweep has 3 points to run (more than 2)", "pass --yes")
    assert not ran and not out.exists()
    assert main([*argv, "--yes", "--timeout", "60"]) == 0
    assert [len(p.todo) for p in ran] == [3]
    assert "attnbench: 3 point(s) to run: at most 3 min at the 60 s time limit per point" in capsys.readouterr().err
    # resuming: the median wall time of the points stored, and only the points left count
    (first,) = [job for job, _ in zip(ran[0].todo, range(1))]
    ResultsDir(out).write({**config_columns(*first), "status": "ok", "wall_time_s": 120.0})
    assert main([*argv, "--resume"]) == 0  # two points left: under the threshold, no --yes
    assert [len(p.todo) for p in ran] == [3, 2]
    err = capsys.readouterr().err
    assert "attnbench: 2 point(s) to run: about 4 min at the median 120.0 s per point of the 1 stored" in err
    assert main([*argv, "--resume", "--no-progress"]) == 0  # quiet: no estimate either
    assert capsys.readouterr().err == ""


def test_learning_rates_without_training_are_one_point_and_a_note(tmp_path, capsys):
    code = main(["sweep", *ONE, "--lrs", "0.01,0.1", "--train-steps", "0", "--dry-run", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0 and "1 point(s) to run" in captured.out
    assert captured.err.startswith("attnbench: note: train_steps=0 trains nothing, so the learning rates (0.01, 0.1)")
