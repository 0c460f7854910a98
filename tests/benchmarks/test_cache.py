"""Per-point caching of the asv benchmarks: each point computed once, whatever process asks first."""

from __future__ import annotations

import json

import pytest

from benchmarks.cache import cached


def test_a_point_is_computed_once_and_read_back(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"flops_fwd": 2.0, "score": None}

    point = ("rsm", "40", "8", "none", "copy", "1")
    assert cached(str(tmp_path), point, compute) == {"flops_fwd": 2.0, "score": None}
    assert cached(str(tmp_path), point, compute) == {"flops_fwd": 2.0, "score": None}
    assert len(calls) == 1
    assert json.loads((tmp_path / "rsm-40-8-none-copy-1.json").read_text())["flops_fwd"] == 2.0
    assert cached(str(tmp_path), ("lstm", *point[1:]), compute) and len(calls) == 2  # another point: computed


def test_a_failed_measurement_leaves_nothing_behind(tmp_path):
    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cached(str(tmp_path), ("a",), fail)
    assert list(tmp_path.iterdir()) == []
