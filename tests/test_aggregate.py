"""aggregate() and select_lr(): seeds as replicates, intervals, success rate, costs, lr chosen on validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attnbench.aggregate import aggregate, mean_ci, select_lr
from attnbench.results import aggregate as reexported


def _row(seed: int, score: float | None, *, lr: float = 1e-3, label: str = "lstm", val: float | None = None,
         status: str = "ok", step_time: float = 1.0, steps_to_target: float | None = None,
         final_loss: float | None = None) -> dict:  # fmt: skip
    return {
        "point_id": f"{label}-{lr}-{seed}",
        "label": label,
        "variant": label,
        "variant_params": "{}",
        "task": "copy",
        "task_params": '{"seq_len": 10}',
        "seq_len": 30,
        "batch": 8,
        "hidden_size": 16,
        "device": "cpu",
        "dtype": "float32",
        "train_steps": 100,
        "lr": lr,
        "target": 0.99,
        "seed": seed,
        "status": status,
        "score": score,
        "val_score": val,
        "val_curve": json.dumps([[100, 1.0, val]]) if val is not None else None,
        "steps_to_target": steps_to_target,
        "final_loss": final_loss,
        "higher_is_better": True,
        "score_metric": "accuracy",
        "step_time_s": step_time,
        "saved_bytes": 1000,
    }


def test_hand_computed_mean_std_interval_success_and_costs():
    scores = [1.0, 0.36, 0.48, 0.9]  # seeds of one configuration, as far apart as the tasks issue's
    frame = pd.DataFrame(
        [
            _row(s, x, step_time=t, steps_to_target=st, val=x)
            for s, x, t, st in zip(range(4), scores, (1.0, 2.0, 4.0, 8.0), (50, None, None, 80))
        ]
    )
    out = aggregate(frame)
    assert reexported is aggregate and len(out) == 1
    row = out.iloc[0]
    assert row["n"] == 4 and row["n_runs"] == 4 and json.loads(row["seeds"]) == [0, 1, 2, 3]
    assert row["score_mean"] == pytest.approx(0.685)  # 2.74 / 4
    # sample standard deviation: sqrt((0.315^2 + 0.325^2 + 0.205^2 + 0.215^2) / 3) = sqrt(0.2931 / 3) = 0.312570
    assert row["score_std"] == pytest.approx(0.312570, abs=1e-5)
    # Student's t: 0.685 -+ t(0.975, 3) * 0.312570 / sqrt(4) = 0.685 -+ 3.182446 * 0.156285 = 0.685 -+ 0.497369
    assert row["score_ci_low"] == pytest.approx(0.187631, abs=1e-5)
    assert row["score_ci_high"] == pytest.approx(1.182369, abs=1e-5)  # not clipped to accuracy's range
    assert row["ci_method"] == "Student's t, 95%"
    assert json.loads(row["score_values"]) == scores  # every seed's score, in seed order
    assert row["success_rate"] == 0.5  # seeds 0 and 3 reached the target on their curves
    assert row["steps_to_target"] == 65  # median of 50 and 80
    assert row["step_time_s"] == 3.0 and row["step_time_s_min"] == 1.0 and row["step_time_s_max"] == 8.0
    assert row["lr_note"] == "single learning rate"


def test_failed_runs_count_against_success_but_not_in_the_mean():
    frame = pd.DataFrame([_row(0, 1.0, val=1.0, steps_to_target=10), _row(1, None, status="oom")])
    row = aggregate(frame).iloc[0]
    assert row["n"] == 1 and row["n_runs"] == 2
    assert row["score_mean"] == 1.0 and math.isnan(row["score_ci_low"])  # one seed: no interval
    assert row["success_rate"] == 0.5


@pytest.mark.parametrize("n", [3, 5])
def test_interval_coverage_holds_at_few_seeds(n):
    """4,000 samples of n seeds from a normal distribution of known mean: the 95% interval holds the
    mean in 93-97% of them (95.3% at n = 3, 94.9% at n = 5; a percentile bootstrap holds it in
    about 75% at n = 3 and 82% at n = 5)."""
    rng = np.random.default_rng(0)
    draws = rng.normal(0.6, 0.1, size=(4000, n))
    covered = [low <= 0.6 <= high for low, high in map(mean_ci, draws)]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_three_seeds_interval_is_not_their_range():
    scores = [0.185, 0.24, 0.271]  # the README's sab seeds: the bootstrap gave exactly [0.185, 0.271]
    low, high = mean_ci(scores)
    assert (low, high) != (min(scores), max(scores))
    # 0.232 -+ t(0.975, 2) * s / sqrt(3) = 0.232 -+ 4.302653 * 0.025146 = 0.232 -+ 0.108196
    assert low == pytest.approx(0.123804, abs=1e-5) and high == pytest.approx(0.340196, abs=1e-5)


def test_identical_scores_have_a_zero_width_interval():
    assert mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in mean_ci([0.5]))


def test_seeds_group_apart_from_other_configurations():
    frame = pd.DataFrame([_row(s, 0.5, label=lab) for s in range(2) for lab in ("lstm", "dense")])
    out = aggregate(frame)
    assert sorted(out["label"]) == ["dense", "lstm"] and set(out["n"]) == {2}


def test_lr_chosen_on_validation_not_on_test():
    # lr 1e-2 has the best test mean (0.9) but the worse validation mean; 1e-3 wins on validation
    frame = pd.DataFrame(
        [_row(s, 0.9, lr=1e-2, val=0.5) for s in range(3)] + [_row(s, 0.7, lr=1e-3, val=0.8) for s in range(3)]
    )
    out = aggregate(frame)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["lr"] == 1e-3 and row["score_mean"] == pytest.approx(0.7)
    assert json.loads(row["lr_choices"]) == [1e-3, 1e-2] and "chosen on validation" in row["lr_note"]
    every = aggregate(frame, choose_lr=False)
    assert sorted(every["lr"]) == [1e-3, 1e-2]


def test_lower_is_better_validation_picks_the_smallest():
    frame = pd.DataFrame([_row(0, 0.1, lr=1e-2, val=0.3), _row(0, 0.2, lr=1e-3, val=0.05)])
    frame["higher_is_better"] = False
    assert aggregate(frame).iloc[0]["lr"] == 1e-3


@pytest.mark.parametrize("reverse", [False, True])
def test_a_tie_on_validation_is_broken_by_training_loss_whatever_the_row_order(reverse):
    # lrs 1e-2 and 1e-3 validate alike (mean 0.8); 1e-2 ends with the lower training loss; 1e-4 is worse
    rows = [_row(s, 0.7, lr=1e-3, val=v, final_loss=0.5) for s, v in enumerate((0.7, 0.9))]
    rows += [_row(s, 0.6, lr=1e-2, val=v, final_loss=0.2) for s, v in enumerate((0.9, 0.7))]
    rows += [_row(s, 0.9, lr=1e-4, val=0.1, final_loss=0.1) for s in range(2)]
    out = aggregate(pd.DataFrame(rows[::-1] if reverse else rows))
    row = out.iloc[0]
    assert row["lr"] == 1e-2 and row["final_loss_mean"] == pytest.approx(0.2)
    assert row["lr_note"] == (
        "lr=0.01 chosen on validation among 3 (tie on validation with lr=0.001: broken by lower training loss)"
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_a_tie_on_validation_and_loss_goes_to_the_smaller_lr(reverse):
    rows = [_row(s, 0.5, lr=lr, val=0.8, final_loss=0.3) for lr in (1e-2, 1e-3) for s in range(2)]
    row = aggregate(pd.DataFrame(rows[::-1] if reverse else rows)).iloc[0]
    assert row["lr"] == 1e-3
    assert row["lr_note"].endswith("(tie on validation with lr=0.01: broken by smaller lr)")


def test_a_clear_choice_is_not_called_a_tie():
    rows = [_row(0, 0.5, lr=1e-2, val=0.8), _row(0, 0.5, lr=1e-3, val=0.8 - 1e-9)]
    row = aggregate(pd.DataFrame(rows)).iloc[0]
    assert row["lr"] == 1e-2 and row["lr_note"] == "lr=0.01 chosen on validation among 2"


def test_without_validation_scores_no_lr_is_chosen():
    frame = pd.DataFrame([_row(0, 0.9, lr=1e-2), _row(0, 0.7, lr=1e-3)])
    out = select_lr(aggregate(frame, choose_lr=False))
    assert len(out) == 2 and set(out["lr_note"]) == {"no validation score: lr not chosen"}


def test_old_rows_without_lr_or_curves_aggregate():
    from attnbench.results import load

    out = aggregate(load(Path(__file__).parent / "report" / "fixtures" / "sweep_small"))
    assert not out.empty and (out["lr_note"] == "learning rate not recorded").all()
    assert (out["n"] <= out["n_runs"]).all()


def test_a_diverged_run_counts_as_a_failed_run_not_a_missing_one():
    diverged = {**_row(1, None), "status": "diverged", "error": "diverged at step 3 (training loss not finite)"}
    frame = pd.DataFrame([_row(0, 1.0, val=1.0, steps_to_target=10), diverged])
    row = aggregate(frame).iloc[0]
    assert row["n_runs"] == 2 and row["n"] == 1 and row["success_rate"] == 0.5


def _stored_folder(folder: Path, seeds: list[int], **options) -> Path:
    """A results folder of real rows (the worker's configuration columns) of one lstm on copy, one per seed."""
    from attnbench.config import Options, Point, config_columns
    from attnbench.results import ResultsDir

    store = ResultsDir(folder)
    for seed in seeds:
        point = Point.make("lstm", "copy", seq_len=5, seed=seed, batch=2, hidden_size=4)
        opts = Options(train_steps=10, **options)
        store.write({**config_columns(point, opts), "status": "ok", "score": 0.5 + seed / 10, "higher_is_better": True})
    return folder


def test_two_folders_that_differ_only_in_clip_are_two_configurations(tmp_path):
    from attnbench.results import load

    clipped = _stored_folder(tmp_path / "clip1", [0, 1], clip=1.0)
    unclipped = _stored_folder(tmp_path / "clip0", [0, 1], clip=0.0)
    out = aggregate(load([clipped, unclipped]))
    assert len(out) == 2 and sorted(out["clip"]) == [0.0, 1.0]
    assert list(out["n"]) == [2, 2]  # each configuration's own two seeds, not four pooled


@pytest.mark.parametrize(
    "option", [{"optimizer": "rmsprop"}, {"train_batch": 4}, {"eval_batches": 2}, {"compile": "default"}]
)
def test_rows_that_differ_in_any_run_option_are_never_pooled_as_seeds(tmp_path, option):
    from attnbench.results import load

    out = aggregate(load([_stored_folder(tmp_path / "a", [0, 1]), _stored_folder(tmp_path / "b", [0, 1], **option)]))
    assert len(out) == 2 and list(out["n"]) == [2, 2]


def test_rows_of_schema_1_read_their_unrecorded_options_as_empty():
    from attnbench.results import load

    frame = load(Path(__file__).parent / "report" / "fixtures" / "sweep_small")
    assert set(frame["schema_version"]) == {1}
    assert frame["clip"].isna().all() and frame["optimizer"].isna().all() and frame["compile"].isna().all()
    assert not aggregate(frame).empty
