"""Gradient reach: per-example norms, exact zeros past a truncation window, and the distances."""

from __future__ import annotations

import pytest
import torch

from attnbench.measure.reach import gradient_reach, reach_distances
from attnbench.variants import build_variant
from tests.measure.conftest import TinyCopy


def test_distances_spread_over_the_sequence() -> None:
    assert reach_distances(1) == [0]
    assert reach_distances(10) == [0, 1, 2, 4, 8, 9]
    assert reach_distances(17) == [0, 1, 2, 4, 8, 16]


def _data(batch: int = 3, seq_len: int = 12):
    task = TinyCopy(seq_len=seq_len)
    x, y = task.sample(batch, torch.Generator().manual_seed(0))
    return task, x, y


def test_truncation_cuts_gradient_to_exactly_zero() -> None:
    task, x, y = _data()
    torch.manual_seed(0)
    model = build_variant("lstm", 4, 4, 8, k_trunc=4, fused=False)
    reach = dict((int(d), n) for d, n in gradient_reach(model, task, x, y))
    # the last window holds steps 8..11: distances 0..3 get gradient, 4 and beyond none
    assert all(reach[d] > 0 for d in (0, 1, 2))
    assert reach[4] == 0.0 and reach[8] == 0.0 and reach[11] == 0.0


@pytest.mark.parametrize("name", ["lstm", "dense", "rsm", "sab"])
def test_full_backprop_reaches_the_first_step(name: str) -> None:
    task, x, y = _data()
    torch.manual_seed(0)
    model = build_variant(name, 4, 4, 8, **({"k_trunc": 100} if name == "sab" else {}))
    reach = gradient_reach(model, task, x, y)
    assert [d for d, _ in reach] == reach_distances(12)
    assert all(n > 0 for _, n in reach)


def test_reach_is_per_example_not_scaled_by_the_batch() -> None:
    task, x, y = _data(batch=4)
    torch.manual_seed(0)
    model = build_variant("dense", 4, 4, 8)
    together = gradient_reach(model, task, x, y, distances=[0, 5, 11])
    alone = [gradient_reach(model, task, x[i : i + 1], y[i : i + 1], distances=[0, 5, 11]) for i in range(4)]
    for k, (_, norm) in enumerate(together):
        assert norm == pytest.approx(sum(a[k][1] for a in alone) / 4, rel=1e-4)
