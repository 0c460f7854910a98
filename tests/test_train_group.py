"""attnbench.training.train_group: replicates trained together give each the run it gets alone."""

from __future__ import annotations

import math

import pytest
import torch

from attnbench.config import Options
from attnbench.tasks import build_task
from attnbench.training import build_model, train, train_group

PARAMS = {
    "lstm": {"k_trunc": None},
    "dense": {},
    "rsm": {"nu": 2, "rho": 2},
    "sab": {"k_trunc": 3, "k_top": 2, "k_att": 2, "max_mem": 4},
}
SEEDS = [0, 1, 0]  # replicates 0 and 2 share a seed (and so their batches) at different lrs
LRS = [1e-2, 3e-3, 3e-2]


def _alone(variant, task, options, seed, dtype):
    model = build_model(variant, task, 8, seed, **PARAMS[variant]).to(dtype)
    return train(model, task, options, seed=seed), model


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
@pytest.mark.parametrize("variant", sorted(PARAMS))
def test_a_50_step_float64_group_gives_each_replicate_its_curve_alone(variant, optimizer):
    task = build_task("copy", seq_len=4)
    base = Options(train_steps=50, train_batch=4, eval_batches=2, curve_points=5, optimizer=optimizer, clip=0.5)
    options = [base.replace(lr=lr) for lr in LRS]
    together = train_group(variant, task, 8, PARAMS[variant], SEEDS, options, dtype=torch.float64)
    assert len(together) == 3
    for (result, model), seed, opts in zip(together, SEEDS, options):
        alone, alone_model = _alone(variant, task, opts, seed, torch.float64)
        assert [p[0] for p in result.curve] == [p[0] for p in alone.curve]
        for got, want in zip(result.curve, alone.curve):
            assert got[2] == pytest.approx(want[2], abs=1e-6)
        assert result.score == pytest.approx(alone.score, abs=1e-6)
        # the first steps agree to rounding; later, Adam's m / sqrt(v) on near-zero gradients (and sab's
        # top-k threshold) amplify bmm's rounding, so the training losses and weights are held to 1e-4
        early = [h for h in result.history if h["step"] <= 20]
        for got, want in zip(early, alone.history):
            assert got["loss"] == pytest.approx(want["loss"], rel=1e-9, abs=1e-12)
        assert result.final_loss == pytest.approx(alone.final_loss, rel=1e-3)
        if variant != "sab":  # sab's top-k threshold amplifies rounding most: its weights drift to ~1e-3
            for name, tensor in alone_model.state_dict().items():
                torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-4, atol=1e-6)


def test_replicates_differ_by_seed_and_lr():
    task = build_task("copy", seq_len=4)
    base = Options(train_steps=10, train_batch=4, eval_batches=1, curve_points=2)
    runs = train_group("rsm", task, 8, PARAMS["rsm"], SEEDS, [base.replace(lr=lr) for lr in LRS])
    losses = {r.final_loss for r, _ in runs}
    assert len(losses) == 3  # not one run copied three times


def test_a_diverging_replicate_leaves_the_others_as_they_are_alone():
    task = build_task("adding", seq_len=5)
    base = Options(train_steps=20, train_batch=4, eval_batches=1, curve_points=2, clip=0.0)
    lrs = [1e-3, 1e30, 1e-2]
    runs = train_group("dense", task, 8, {}, [0, 1, 2], [base.replace(lr=lr) for lr in lrs])
    diverged, _ = runs[1]
    alone, _ = _alone("dense", task, base.replace(lr=lrs[1]), 1, torch.float32)
    assert diverged.diverged_at is not None and diverged.diverged_at == alone.diverged_at
    assert math.isnan(diverged.score) and [h["step"] for h in diverged.history] == [h["step"] for h in alone.history]
    for g in (0, 2):
        alone, _ = _alone("dense", task, base.replace(lr=lrs[g]), g, torch.float32)
        assert runs[g][0].score == pytest.approx(alone.score, rel=1e-4)


def test_the_group_refuses_replicates_that_differ_in_more_than_seed_and_lr():
    task = build_task("copy", seq_len=4)
    with pytest.raises(ValueError, match="differ in seed and lr only"):
        train_group("lstm", task, 8, {}, [0, 1], [Options(train_steps=2), Options(train_steps=3)])
