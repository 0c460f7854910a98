"""denoise: 10 symbols at distinct sorted random slots among T+9, marker at T+9, recall at the end."""

from __future__ import annotations

import torch

from attnbench.tasks.denoise_task import DenoiseTask


def test_denoise_layout():
    t = 30
    task = DenoiseTask(seq_len=t)
    x, y = task.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, t + 20, 10) and y.shape == (64, t + 20)
    c = x.argmax(-1)
    assert (c[:, t + 9] == 9).all()  # marker
    assert (c[:, t + 10 :] == 0).all()
    head = c[:, : t + 9]
    assert ((head == 0) | ((head >= 1) & (head <= 8))).all()
    assert ((head != 0).sum(1) == 10).all()  # exactly 10 symbols, at distinct slots
    # the targets are the symbols in the order they appear
    for row, target in zip(head, y[:, t + 10 :]):
        assert torch.equal(row[row != 0], target)
    assert (y[:, : t + 10] == 0).all()


def test_positions_vary_and_reach_both_ends():
    t = 5
    x, _ = DenoiseTask(seq_len=t).sample(500, torch.Generator().manual_seed(1))
    filled = (x.argmax(-1)[:, : t + 9] != 0).float()
    first_rows = filled[:50]
    assert not (first_rows == first_rows[0]).all()  # positions differ between sequences
    assert (filled.mean(0) > 0).all()  # every slot is used sometimes, the first and the last included


def test_smallest_delay_fills_every_slot():
    x, _ = DenoiseTask(seq_len=1).sample(4, torch.Generator().manual_seed(0))
    assert (x.argmax(-1)[:, :10] != 0).all()
