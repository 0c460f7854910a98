"""Point and Options: one declaration, one validator, one id and one label for every producer of rows."""

from __future__ import annotations

import math

import pytest

from attnbench.config import (
    OPTION_FIELDS,
    POINT_FIELDS,
    Job,
    Options,
    Point,
    axis_label,
    check_target,
    label,
    point_id,
    resolved_target,
)
from attnbench.errors import UsageError
from attnbench.params import ParameterError


def test_every_field_is_declared_once_with_default_and_help():
    for fields, cls in ((POINT_FIELDS, Point), (OPTION_FIELDS, Options)):
        assert fields and all(p.help for p in fields.values())
        defaults = cls("lstm", "copy") if cls is Point else cls()
        assert all(getattr(defaults, name) == p.default for name, p in fields.items())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Point("lstm", "copy", batch=0), "batch=0 is not allowed; expected an integer >= 1"),
        (lambda: Point("lstm", "copy", device="tpu"), "device='tpu' is not allowed"),
        (lambda: Point("lstm", "copy", dtype="int3"), "unknown dtype"),
        (lambda: Point("sab", "copy", variant_params={"k_top": 0}), "k_top=0 is not allowed"),
        (lambda: Options(lr=0.0), "lr=0.0 is not allowed; expected a number > 0"),
        (lambda: Options(optimizer="sgd"), "optimizer='sgd' is not allowed"),
        (lambda: Point.make("lstm", "digits", seq_len=3), "no sequence-length parameter"),
    ],
)
def test_one_error_type_with_a_one_line_message(make, match):
    with pytest.raises(ParameterError, match=match) as info:
        make()
    assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_points_are_complete_and_equal_when_the_configuration_is():
    a = Point.make("sab", "copy", seq_len=5, variant_params={"k_att": 2}, dtype="bf16")
    b = Point("sab", "copy", (("k_att", 2), ("k_top", 5)), (("seq_len", 5),), dtype="bfloat16")
    assert a == b and a.dtype == "bfloat16" and dict(a.variant_params)["max_mem"] is None
    assert a.label == "sab[k_att=2]" and a.seq_len == 25
    assert point_id(a, Options()) == point_id(b, Options()) != point_id(a, Options(clip=0.5))


def test_a_job_survives_json():
    job = Job(Point.make("rsm", "copy", seq_len=4, variant_params={"rho": 3}), Options(reach=False, threads=2))
    assert Job.from_json(job.to_json()) == job and Job.from_json(job.to_json()).point_id == job.point_id


def test_a_point_a_variant_rejects_is_kept_as_given_with_the_reason_and_survives_json():
    with pytest.raises(ParameterError, match="rho='none' is not allowed"):
        Point.make("rsm", "copy", seq_len=4, variant_params={"rho": "none"})
    why = "rsm: rho='none' is not allowed (a value of the sweep's axes that rsm does not take)"
    point = Point.make("rsm", "copy", seq_len=4, variant_params={"rho": "none", "nu": 3}, rejected=why)
    assert point.params == {"rho": "none", "nu": 3} and point.skip_reason == why and point.label == "rsm[nu=3,rho=none]"
    job = Job(point, Options())
    again = Job.from_json(job.to_json())
    assert again == job and again.point_id == job.point_id and again.skip_reason == why
    plain = Point.make("rsm", "copy", seq_len=4, variant_params={"rho": 3})
    assert plain.rejected is None and Job(plain, Options()).point_id != Job(plain.replace(seed=1), Options()).point_id


def test_labels_of_axes_and_of_unknown_variants():
    assert axis_label("sab", {"memory": 8, "top_k": 5}) == "sab[max_mem=8]" == label("sab", {"max_mem": 8})
    assert axis_label("lstm", {"memory": None, "top_k": None}) == "lstm"
    assert axis_label("gru", {"memory": 8, "top_k": None}) == "gru[memory=8]"


def test_compile_option_is_checked_and_keeps_default_ids() -> None:
    point = Point.make("rsm", "copy", seq_len=20)
    with pytest.raises(ParameterError, match="compile='fast' is not allowed"):
        Options(compile="fast")
    assert point_id(point, Options(compile="none")) == point_id(point, Options())  # default: not hashed
    assert point_id(point, Options(compile="default")) != point_id(point, Options(compile="max-autotune"))
    assert point_id(point, Options(compile="default")) != point_id(point, Options())


@pytest.mark.parametrize(
    ("task", "target", "allowed"),
    [
        ("copy", 2.0, "expected a number in [0, 1]"),  # accuracy can never reach 2
        ("copy", -5.0, "expected a number in [0, 1]"),  # and every run reaches -5 at once
        ("copy", math.inf, "expected a finite number in [0, 1]"),
        ("adding", -1.0, "expected a number >= 0"),  # an MSE is never negative
        ("adding", -math.inf, "expected a finite number >= 0"),
    ],
)
def test_a_target_outside_the_metric_range_is_refused(task, target, allowed):
    with pytest.raises(ParameterError) as info:
        check_target(task, target)
    message = str(info.value)
    assert message.startswith(f"task {task} scores ") and f"target={target!r} is not allowed" in message
    assert allowed in message and "\n" not in message


def test_targets_the_metric_can_take_pass_and_inf_is_refused_by_options():
    assert check_target("copy", 0.5) == 0.5 and check_target("copy", None) is None
    assert check_target("adding", 3.0) == 3.0
    with pytest.raises(ParameterError, match=r"target=inf is not allowed; expected a finite number"):
        Options(target=math.inf)
    with pytest.raises(ParameterError, match=r"task copy scores accuracy: target=2.0"):
        resolved_target(Point("lstm", "copy"), Options(target=2.0))


def test_a_seed_torch_cannot_take_is_refused_at_its_declaration():
    assert Point("lstm", "copy", seed=2**63 - 1).seed == 2**63 - 1
    with pytest.raises(
        ParameterError, match=r"seed=100000000000000000000000 is not allowed; expected an integer in \[0, "
    ):
        Point("lstm", "copy", seed=10**23)


def test_the_run_columns_cover_every_declared_field_and_axis():
    """Adding a Point or Options field (or an axis) without a column fails here: every field that defines a
    run is recorded in its rows, and aggregate groups on it."""
    import dataclasses

    from attnbench.config import NOT_RECORDED, Options, Point, config_keys, run_columns
    from attnbench.params import AXES
    from attnbench.schema import CONFIG_COLUMNS

    recorded = {c.field for c in run_columns() if c.field}
    for cls, owner in ((Point, "point"), (Options, "options")):
        for f in dataclasses.fields(cls):
            assert f.name in NOT_RECORDED or f"{owner}.{f.name}" in recorded, f"{owner}.{f.name} has no column"
    names = [c.name for c in run_columns()]
    assert len(names) == len(set(names)) and set(AXES) <= set(names)
    assert list(CONFIG_COLUMNS) == names
    assert set(config_keys()) == set(names) - {"seed", "point_id"}


def test_config_columns_give_every_run_column_for_a_point():
    from attnbench.config import Options, Point, config_columns, run_column_names

    row = config_columns(Point.make("lstm", "mqar", seq_len=64), Options(clip=0.5, compile="default", threads=2))
    assert list(row) == [*run_column_names(), "schema_version"]
    assert row["clip"] == 0.5 and row["compile"] == "default" and row["requested_threads"] == 2
    assert row["pairs"] == 4  # mqar's pairs none: T/16, as the task builds it
    assert row["optimizer"] == "adam" and row["target"] == Point.make("lstm", "mqar", seq_len=64).build_task().target


def test_config_imports_nothing_above_it():
    """config is what training and measure build on: no import of theirs in it, lazy ones included (the
    loop config -> training -> measure.compiled -> config is gone)."""
    import ast
    from pathlib import Path

    import attnbench.config

    tree = ast.parse(Path(attnbench.config.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    above = sorted(m for m in imported if m.startswith(("attnbench.training", "attnbench.measure", "attnbench.sweep")))
    assert not above, f"attnbench.config imports {above}"


def test_a_point_builds_the_model_training_builds():
    import torch

    from attnbench.config import Point
    from attnbench.training import build_model

    point = Point.make("sab", "copy", seq_len=4, hidden_size=4, seed=3, variant_params={"k_top": 1})
    ours, theirs = point.build_model(), build_model("sab", point.build_task(), 4, 3, **point.params)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
