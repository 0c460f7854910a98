"""The compile option: compile time is a figure of its own, and a compile that fails is a stored reason."""

from __future__ import annotations

import json

import pytest
import torch

from attnbench.config import Options, Point
from attnbench.measure import compiled, measure
from tests.measure.conftest import tiny_task  # noqa: F401  (fixture)


def _point(task: str, variant: str = "lstm") -> Point:
    """A torch.lstm_cell loop: its (unrolled) steps are what torch.compile compiles."""
    return Point.make(variant, task, seq_len=6, batch=2, hidden_size=4, variant_params={"fused": False})


def test_compile_time_is_recorded_apart_from_the_step_time(tiny_task: str) -> None:  # noqa: F811
    row = measure(_point(tiny_task), Options(warmup=1, repeats=2, reach=False, compile="default"))
    missing = json.loads(row["missing"])
    assert row["status"] == "ok" and "compile_time_s" not in missing
    # the first compiled step takes far longer than a compiled step: compilation is not in step_time_s
    assert row["compile_time_s"] > 10 * row["step_time_s"] > 0


def test_eager_has_no_compile_time_and_says_why(tiny_task: str) -> None:  # noqa: F811
    row = measure(_point(tiny_task), Options(warmup=0, repeats=1, reach=False))
    assert row["compile_time_s"] is None and "compile=none" in json.loads(row["missing"])["compile_time_s"]


def test_a_failed_compile_is_a_row_with_its_reason(tiny_task: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    def no_compiler(gm: torch.fx.GraphModule, inputs: list) -> None:
        raise RuntimeError("no C++ compiler found\nsecond line")

    real = torch.compile
    monkeypatch.setattr(compiled.torch, "compile", lambda model, mode: real(model, backend=no_compiler))
    torch._dynamo.reset()
    row = measure(_point(tiny_task), Options(warmup=0, repeats=1, reach=False, compile="default"))
    torch._dynamo.reset()
    assert row["status"] == "error" and row["step_time_s"] is None and row["compile_time_s"] is None
    assert row["error"].startswith("torch.compile(mode='default') failed: ") and "\n" not in row["error"]
    assert "no C++ compiler found" in json.loads(row["missing"])["compile_time_s"]


def test_compile_model_leaves_eager_alone_and_refuses_unknown_modes() -> None:
    model = torch.nn.Linear(2, 2)
    assert compiled.compile_model(model, "none") is model
    with pytest.raises(ValueError, match="compile='fast' is not allowed"):
        compiled.compile_model(model, "fast")
