"""train(): validation, determinism, evaluation, transfer, and that a small model really learns."""

from __future__ import annotations

import json
import math

import pytest
import torch

from attnbench.config import Options, Point
from attnbench.params import ParameterError
from attnbench.tasks import build_task
from attnbench.training import (
    EVAL_SEED_OFFSET,
    EVAL_SHARE,
    FORWARD_SHARE,
    VALID_SEED_OFFSET,
    TrainResult,
    build_model,
    curve_schedule,
    evaluate,
    finite,
    time_to_target,
    train,
    train_point,
)


def train_variant(variant, task, options, hidden_size, seed=0, **params):
    """What train_point does, for a task built here: seeded model, then train."""
    return train(build_model(variant, task, hidden_size, seed, **params), task, options, seed=seed)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("train_steps", 0, "integer >= 1"),  # Options allow 0 (costs only); train does not
        ("train_steps", -3, "integer >= 0"),
        ("train_steps", 2.5, "integer >= 0"),
        ("train_batch", 0, "integer >= 1"),
        ("eval_batches", 0, "integer >= 1"),
        ("seed", -1, r"integer in \[0, 9223372036854775807\]"),
        ("seed", 10**23, r"integer in \[0, 9223372036854775807\]"),  # torch seeds from 64 bits
        ("optimizer", "sgd", "'adam', 'rmsprop'"),
        ("lr", 0.0, "> 0"),
        ("lr", float("nan"), "> 0"),
        ("clip", -1.0, ">= 0"),
    ],
)
def test_bad_config_is_a_one_line_parameter_error(field, value, allowed):
    task = build_task("copy", seq_len=2)
    with pytest.raises(ParameterError, match=allowed) as info:
        if field == "seed":
            Point("lstm", "copy", seed=value)
        else:
            train(build_model("lstm", task, 4), task, Options(**{"train_steps": 1, field: value}))
    message = str(info.value).removeprefix("train: ")
    assert message.startswith(f"{field}=") and "\n" not in message


def test_train_point_is_train_of_the_seeded_model():
    point = Point.make("lstm", "copy", seq_len=3, hidden_size=8, seed=2)
    options = Options(train_steps=3, train_batch=4, eval_batches=1)
    a = train_point(point, options)
    b = train_variant("lstm", point.build_task(), options, hidden_size=8, seed=2)
    assert a.history[:-1] == b.history[:-1] and a.score == b.score


def test_model_and_task_sizes_must_match():
    task = build_task("copy", seq_len=3)
    model = build_model("lstm", build_task("adding", seq_len=4), hidden_size=4)
    with pytest.raises(ParameterError, match="task copy needs 10 to 9"):
        train(model, task, Options(train_steps=1))


def test_result_fields_and_history():
    task = build_task("copy", seq_len=3)
    result = train_variant("lstm", task, Options(train_steps=7, train_batch=4, eval_batches=2), hidden_size=8)
    assert isinstance(result, TrainResult)
    assert result.steps == 7 and result.metric == "accuracy" and result.higher_is_better
    assert result.chance == pytest.approx(1 / 8) and 0 <= result.score <= 1
    assert result.transfer_scores == {} and result.wall_time_s > 0
    train_records = [h for h in result.history if h["split"] == "train"]
    assert [h["step"] for h in train_records] == list(range(1, 8))
    assert result.history[-1]["split"] == "test" and result.history[-1]["score"] == result.score
    assert result.final_loss == train_records[-1]["loss"]
    json.dumps(result.to_dict())  # machine-readable as is


def test_history_is_capped_for_long_runs():
    task = build_task("copy", seq_len=1)
    result = train_variant("lstm", task, Options(train_steps=250, train_batch=2, eval_batches=1), hidden_size=4)
    steps = [h["step"] for h in result.history if h["split"] == "train"]
    assert steps[0] == 2 and steps[-1] == 250 and len(steps) == 125


def test_deterministic_for_a_seed_on_cpu():
    task = build_task("copy", seq_len=4)
    config = Options(train_steps=5, train_batch=4, eval_batches=2)
    a = train_variant("sab", task, config, hidden_size=8, seed=3, k_att=2, k_top=2, k_trunc=3)
    b = train_variant("sab", task, config, hidden_size=8, seed=3, k_att=2, k_top=2, k_trunc=3)
    c = train_variant("sab", task, config, hidden_size=8, seed=4)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.score == b.score
    assert [h["loss"] for h in a.history] != [h["loss"] for h in c.history]


def test_build_model_leaves_global_rng_alone():
    task = build_task("copy", seq_len=2)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    first = build_model("lstm", task, hidden_size=4, seed=0)
    assert torch.equal(torch.rand(3), expected)
    second = build_model("lstm", task, hidden_size=4, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters()))


def test_transfer_scores_at_every_evaluation_length():
    task = build_task("transfer_copy", seq_len=3, eval_lens="5,8")
    result = train_variant("lstm", task, Options(train_steps=2, train_batch=4, eval_batches=1), hidden_size=4)
    assert sorted(result.transfer_scores) == [5, 8]
    assert all(0 <= s <= 1 for s in result.transfer_scores.values())
    assert result.to_dict()["transfer_scores"].keys() == {"5", "8"}


def test_evaluate_restores_training_mode_and_is_repeatable():
    task = build_task("adding", seq_len=6)
    model = build_model("lstm", task, hidden_size=4)
    model.train()
    first = evaluate(model, task, batches=2, batch_size=4, seed=9)
    assert model.training
    assert evaluate(model, task, batches=2, batch_size=4, seed=9) == first


def test_rmsprop_and_no_clipping_run():
    task = build_task("adding", seq_len=6)
    config = Options(train_steps=3, train_batch=4, optimizer="rmsprop", clip=0.0, eval_batches=1)
    result = train_variant("lstm", task, config, hidden_size=4)
    assert result.metric == "mse" and not result.higher_is_better and result.score >= 0


def test_small_lstm_learns_short_copy_well_above_chance():
    task = build_task("copy", seq_len=1)
    config = Options(train_steps=1500, train_batch=32, lr=1e-2, eval_batches=4)
    result = train_variant("lstm", task, config, hidden_size=64)
    assert result.score > 2.5 * result.chance  # about 0.45 after 1500 steps, 0.6 after 2000
    assert result.final_loss < 0.8 * result.history[0]["loss"]


def test_on_step_sees_every_step_and_leaves_training_as_it_was():
    task = build_task("adding", seq_len=6)
    config = Options(train_steps=4, train_batch=4, eval_batches=1)
    seen = []
    with_hook = train(build_model("lstm", task, 4), task, config, on_step=lambda step, model: seen.append(step))
    without = train(build_model("lstm", task, 4), task, config)
    assert seen == [1, 2, 3, 4]
    assert with_hook.score == without.score and with_hook.final_loss == without.final_loss


def test_time_to_target_from_a_synthetic_curve_reached_and_not():
    curve = [[10, 1.0, 0.3], [20, 2.0, 0.8], [30, 3.5, 0.995], [40, 4.0, 1.0]]
    assert time_to_target(curve, 0.99, higher_is_better=True) == (30, 3.5)  # the first point at the target
    assert time_to_target(curve, 1.01, higher_is_better=True) == (None, None)  # never 0, never the budget
    assert time_to_target(curve, None, higher_is_better=True) == (None, None)
    mse = [[10, 1.0, 0.2], [20, 2.0, 0.05], [30, 3.0, 0.009]]
    assert time_to_target(mse, 0.01, higher_is_better=False) == (30, 3.0)
    assert time_to_target(mse, 0.001, higher_is_better=False) == (None, None)


def test_curve_schedule_keeps_validation_within_its_share():
    marks, batches = curve_schedule(1000, 20, 10)
    assert len(marks) == 20 and max(marks) == 1000 and min(marks) == 50
    # validation forward passes, each about a third of a step, cost at most 5% of the training steps
    assert len(marks) * batches * FORWARD_SHARE <= EVAL_SHARE * 1000
    few, one = curve_schedule(30, 20, 10)  # too short for 20 points: fewer, one batch each
    assert one == 1 and len(few) * FORWARD_SHARE <= EVAL_SHARE * 30 + FORWARD_SHARE and max(few) == 30
    assert curve_schedule(100, 0, 10) == (set(), 0)


def test_learning_curve_and_time_to_target_in_the_result():
    task = build_task("copy", seq_len=2)
    options = Options(train_steps=100, train_batch=4, eval_batches=4, lr=1e-2, target=0.0)
    result = train_variant("lstm", task, options, hidden_size=8)
    steps = [p[0] for p in result.curve]
    seconds = [p[1] for p in result.curve]
    assert steps == sorted(steps) and steps[-1] == 100 and 1 < len(steps) <= 20
    assert seconds == sorted(seconds) and seconds[-1] <= result.wall_time_s
    assert all(0.0 <= p[2] <= 1.0 for p in result.curve)
    # target 0: reached at the first point
    assert result.steps_to_target == steps[0] and result.seconds_to_target == seconds[0]
    unreachable = train_variant("lstm", task, options.replace(train_steps=20, target=1.0), hidden_size=8)
    assert unreachable.steps_to_target is None and unreachable.seconds_to_target is None
    assert train_variant("lstm", task, options.replace(curve_points=0), hidden_size=8).curve == []


def test_validation_stream_is_distinct_from_training_and_test():
    task = build_task("copy", seq_len=2)
    seed = 3

    def first(stream_seed: int, split: str) -> torch.Tensor:
        return task.sample(8, torch.Generator().manual_seed(stream_seed), split=split)[0]

    train_x = first(seed, "train")
    valid_x = first(seed + VALID_SEED_OFFSET, "valid")
    test_x = first(seed + EVAL_SEED_OFFSET, "test")
    assert not torch.equal(train_x, valid_x) and not torch.equal(valid_x, test_x)
    assert len({seed, seed + VALID_SEED_OFFSET, seed + EVAL_SEED_OFFSET}) == 3


def test_compiled_training_follows_the_eager_one():
    """The compile option trains the compiled module (same parameters): the same losses as eager, to rounding."""
    task = build_task("copy", seq_len=4)
    eager = train_variant(
        "lstm", task, Options(train_steps=3, train_batch=4, eval_batches=1), hidden_size=8, fused=False
    )
    config = Options(train_steps=3, train_batch=4, eval_batches=1, compile="default")
    compiled = train_variant("lstm", task, config, hidden_size=8, fused=False)  # an lstm_cell loop: compiled
    assert [h["loss"] for h in compiled.history] == pytest.approx([h["loss"] for h in eager.history], rel=1e-4)


def test_a_diverged_run_stops_at_the_first_non_finite_loss_and_says_so():
    task = build_task("adding", seq_len=5)
    options = Options(train_steps=20, train_batch=4, lr=1e30, clip=0.0, eval_batches=1)
    result = train_variant("lstm", task, options, 16)
    assert result.diverged_at is not None and 1 <= result.diverged_at < 20
    assert result.steps == result.diverged_at  # stopped there
    assert math.isnan(result.score) and math.isnan(result.final_loss) and result.steps_to_target is None
    assert all(step < result.diverged_at for step, _, _ in result.curve)
    assert all(r["step"] < result.diverged_at for r in result.history)
    json.dumps(result.to_dict(), allow_nan=False)  # strict JSON: no NaN or Infinity


def test_a_finite_run_has_no_divergence():
    task = build_task("copy", seq_len=2)
    result = train_variant("lstm", task, Options(train_steps=3, train_batch=4, eval_batches=1), 8)
    assert result.diverged_at is None and finite(result.score) and not finite(math.inf) and not finite(math.nan)


@pytest.mark.parametrize("target", [2.0, -5.0])
def test_a_target_the_metric_cannot_take_is_refused(target):
    task = build_task("copy", seq_len=2)
    with pytest.raises(
        ParameterError, match=r"train: task copy scores accuracy: target=.* expected a number in \[0, 1\]"
    ):
        train(build_model("lstm", task, 4), task, Options(train_steps=1, target=target))
