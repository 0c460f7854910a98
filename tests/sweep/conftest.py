"""Tiny sweeps: points that take a fraction of a second to measure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TINY = [
    *("--seeds", "0", "--workers", "1"),  # one point per configuration, whatever the default preset's seeds
    *("--batch", "2", "--hidden", "4", "--repeats", "1", "--warmup", "0", "--train-steps", "0", "--no-progress"),
]


# a three-point sweep (lengths 3, 4 and 5 of one lstm, one seed): the size checks' smallest grid
THREE_POINTS = ["sweep", "--variants", "lstm", "--seq-len", "3,4,5", "-p", "lstm.k_trunc=none", "--seeds", "0"]


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


# a grid of a million points (a thousand lengths and a thousand seeds), for the tests of laziness
MILLION = {"variants": ("lstm",), "axes": {"seq_len": tuple(range(5, 1005))}, "seeds": tuple(range(1000))}


@pytest.fixture(name="built")
def built_fixture(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many points the expansion builds; more than 1000 fails at once (the grid is never enumerated)."""
    import importlib

    from attnbench.config import Point

    module = importlib.import_module("attnbench.sweep.expand")  # the package's `expand` is the function

    count = [0]

    def counting(*args: Any, **kwargs: Any) -> Point:
        count[0] += 1
        if count[0] > 1000:
            raise AssertionError("more than 1000 points built: the expansion enumerates the grid")
        return Point(*args, **kwargs)

    monkeypatch.setattr(module, "Point", counting)
    return count
