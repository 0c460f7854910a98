"""measure(): one row with every schema column, reasons for what is missing, errors for bad input."""

from __future__ import annotations

import json

import pytest

from attnbench.config import OPTION_FIELDS, Options, Point
from attnbench.errors import UsageError
from attnbench.measure import measure
from attnbench.measure.point import JSON_COLUMNS
from attnbench.params import ParameterError
from attnbench.schema import COLUMNS, METRIC_COLUMNS

GPU_ONLY = ("cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes", "nvml_used_bytes", "energy_j", "power_w")


def _decoded(row: dict) -> dict:
    """The row with its JSON-text columns decoded."""
    assert all(row[c] is None or isinstance(row[c], str) for c in JSON_COLUMNS)
    return {k: json.loads(v) if k in JSON_COLUMNS and v is not None else v for k, v in row.items()}


def _spec(task: str, **kw) -> tuple[Point, Options]:
    kw = {"batch": 2, "hidden_size": 8, "seq_len": 10, "repeats": 3, "warmup": 1, **kw}
    how = {k: kw.pop(k) for k in list(kw) if k in OPTION_FIELDS}
    return Point.make(kw.pop("variant", "rsm"), task, **kw), Options(**how)


def test_a_row_has_every_column_and_reasons_for_what_is_missing(tiny_task: str) -> None:
    row = measure(*_spec(tiny_task, variant="sab", variant_params={"k_att": 2}))
    assert set(row) == set(COLUMNS)
    json.dumps(row)  # plain JSON
    row = _decoded(row)
    assert row["status"] == "ok" and row["error"] == ""
    assert row["label"] == "sab[k_att=2]" and row["top_k"] == 5 and row["memory"] is None
    assert row["seq_len"] == 10 and row["device"] == "cpu" and row["dtype"] == "float32"
    for column in METRIC_COLUMNS:
        if column != "missing":
            assert (row[column] is None) == (column in row["missing"]), column
    for column in GPU_ONLY:  # the no-GPU path: missing with a reason, never 0
        assert row[column] is None and row["missing"][column]
    assert row["fwd_time_s"] > 0 and row["step_time_s"] > 0 and row["fwd_time_n"] == 3
    assert row["tokens_per_s"] == pytest.approx(2 * 10 / row["step_time_s"])
    assert row["saved_bytes"] > 0 and row["rss_peak_bytes"] > 0
    assert row["flops_fwd"] == pytest.approx(row["flops_fwd_analytic"], rel=0.02)
    assert row["flops_bwd"] == pytest.approx(row["flops_bwd_analytic"], rel=0.02)
    assert row["peak_fraction"] == pytest.approx(row["flops_per_s"] / row["matmul_flops_per_s"])
    assert row["score"] is None and "train_steps=0" in row["missing"]["score"]
    assert row["chance"] == 0.25 and row["score_metric"] == "accuracy" and row["higher_is_better"] is True
    assert [d for d, _ in row["grad_reach"]] == [0, 1, 2, 4, 8, 9]
    assert row["variant_params"] == {"k_att": 2, "k_top": 5, "k_trunc": 10, "max_mem": None, "mlp_hidden": None}


def test_training_fills_the_accuracy_columns(tiny_task: str) -> None:
    row = _decoded(measure(*_spec(tiny_task, variant="lstm", train_steps=3, eval_batches=1)))
    assert 0.0 <= row["score"] <= 1.0
    assert row["final_loss"] > 0 and row["train_time_s"] > 0
    assert row["transfer_scores"] is None and "transfer" in row["missing"]["transfer_scores"]
    # the learning curve: [step, training seconds, validation score], its last point the val_score (3 steps
    # leave room for one validation point within the 5% share)
    assert [p[0] for p in row["val_curve"]] == [3] and row["val_curve"][-1][2] == row["val_score"]
    assert row["val_time_s"] > 0 and row["lr"] == 1e-3 and row["target"] is None  # the test task declares none
    assert "declares no target" in row["missing"]["steps_to_target"]


def test_time_to_target_or_the_reason_it_is_missing(tiny_task: str) -> None:
    reached = _decoded(measure(*_spec(tiny_task, variant="lstm", train_steps=2, eval_batches=1, target=0.0)))
    assert reached["steps_to_target"] == 2 and reached["seconds_to_target"] == reached["val_curve"][0][1]
    missed = _decoded(measure(*_spec(tiny_task, variant="lstm", train_steps=2, eval_batches=1, target=1.0)))
    assert missed["steps_to_target"] is None and missed["seconds_to_target"] is None
    assert missed["missing"]["steps_to_target"] == "not reached in 2 steps"
    assert missed["target"] == 1.0


def test_float64_and_no_reach(tiny_task: str) -> None:
    row = _decoded(measure(*_spec(tiny_task, variant="dense", dtype="float64", reach=False)))
    assert row["dtype"] == "float64"
    assert row["grad_reach"] is None and row["missing"]["grad_reach"]


def test_a_combination_the_variant_rejects_is_skipped(tiny_task: str) -> None:
    row = measure(*_spec(tiny_task, variant="sab", variant_params={"k_top": 5, "max_mem": 2}))
    assert row["status"] == "skipped" and "max_mem" in row["error"]
    assert row["fwd_time_s"] is None


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"device": "tpu:0"}, UsageError, "unknown device"),
        ({"device": "cuda:0"}, UsageError, "CUDA is not available"),
        ({"dtype": "int8"}, UsageError, "unknown dtype"),
        ({"variant_params": {"nope": 1}}, ParameterError, "unknown parameter"),
        ({"task_params": {"seq_len": 12}}, UsageError, "both set the length"),
    ],
)
def test_bad_input_is_a_one_line_error(tiny_task: str, changes: dict, error: type, match: str) -> None:
    import torch

    if changes.get("device") == "cuda:0" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(error, match=match):
        measure(*_spec(tiny_task, **changes))


def test_spec_rejects_bad_counts() -> None:
    with pytest.raises(ParameterError, match="repeats"):
        Options(repeats=0)
    with pytest.raises(ParameterError, match="batch"):
        Point("lstm", "copy", batch=0)


def test_a_diverged_accuracy_run_is_stored_as_diverged_with_no_non_finite_number() -> None:
    point = Point.make("lstm", "adding", seq_len=5, batch=4, hidden_size=16)
    options = Options(train_steps=20, train_batch=4, lr=1e30, clip=0.0, eval_batches=1, repeats=2, warmup=0)
    row = measure(point, options)
    json.dumps(row, allow_nan=False)
    for column in JSON_COLUMNS:  # the JSON text columns too: strict readers reject NaN and Infinity
        assert row[column] is None or ("NaN" not in row[column] and "Infinity" not in row[column]), column
    row = _decoded(row)
    assert row["status"] == "diverged" and row["error"].startswith("diverged at step ")
    for column in ("score", "val_score", "final_loss", "steps_to_target", "grad_reach", "transfer_scores"):
        assert row[column] is None and row["missing"][column] == row["error"], column
    assert row["step_time_s"] > 0  # the costs were measured
