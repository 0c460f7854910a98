"""The contributor docs and the configuration they describe say the same thing."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_contributing_and_pyproject_agree_on_what_a_slow_test_is():
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    (slow,) = [m for m in markers if m.startswith("slow:")]
    assert "longer than a few seconds" in slow
    contributing = " ".join((ROOT / "CONTRIBUTING.md").read_text().split())
    assert "a test longer than a few seconds is marked `@pytest.mark.slow`" in contributing
