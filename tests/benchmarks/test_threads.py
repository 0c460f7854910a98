"""Thread pinning of the asv benchmarks: ATTNBENCH_ASV_THREADS (default 1), checked, applied before torch starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("value", "ok"), [("3", True), ("0", False), ("two", False)])
def test_threads_come_from_attnbench_asv_threads(value, ok):
    code = (
        "import benchmarks, os, torch; benchmarks.pin_threads(); "
        "print(benchmarks.THREADS, os.environ['OMP_NUM_THREADS'], torch.get_num_threads())"
    )
    env = {"PATH": "/usr/bin:/bin", "ATTNBENCH_ASV_THREADS": value}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert out.stdout.split() == [value, value, value]
    else:
        assert out.returncode != 0 and f"ATTNBENCH_ASV_THREADS={value!r} is not allowed" in out.stderr


def test_the_default_is_one_thread_and_every_benchmark_records_it():
    env = {"PATH": "/usr/bin:/bin"}
    code = "from benchmarks.grid import PARAM_NAMES, GRID; print(PARAM_NAMES[-1], GRID['threads'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "threads ['1']", out.stderr
