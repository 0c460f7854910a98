"""adding: two channels, one mark in each half, the target the sum of the marked values."""

from __future__ import annotations

import pytest
import torch

from attnbench.params import ParameterError
from attnbench.tasks import build_task
from attnbench.tasks.adding_task import AddingTask


@pytest.mark.parametrize("t", [2, 9, 100])
def test_adding_layout(t):
    task = AddingTask(seq_len=t)
    x, y = task.sample(256, torch.Generator().manual_seed(t))
    assert x.shape == (256, t, 2) and y.shape == (256,)
    values, mask = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (mask.sum(1) == 2).all()
    assert (mask[:, : t // 2].sum(1) == 1).all()  # one mark in the first half
    assert (mask[:, t // 2 :].sum(1) == 1).all()  # and one in the second
    assert torch.allclose(y, (values * mask).sum(1))


def test_marks_spread_over_each_half():
    t = 10
    x, _ = AddingTask(seq_len=t).sample(2000, torch.Generator().manual_seed(0))
    assert (x[..., 1].sum(0) > 0).all()  # every position gets marked sometimes


def test_adding_metric_is_mse_lower_is_better():
    task = AddingTask(seq_len=10)
    assert task.metric == "mse" and task.higher_is_better is False
    assert task.input_size == 2 and task.output_size == 1
    assert task.chance == pytest.approx(1 / 6)


def test_adding_needs_two_steps():
    with pytest.raises(ParameterError, match="seq_len=1"):
        build_task("adding", seq_len=1)
