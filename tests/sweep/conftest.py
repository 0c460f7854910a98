"""Tiny sweeps: points that take a fraction of a second to measure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--batch", "2", "--hidden", "4", "--repeats", "1", "--warmup", "0", "--train-steps", "0", "--no-progress"]


def sweep(
    *args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run `attnbench sweep` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "attnbench", "sweep", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "results"
