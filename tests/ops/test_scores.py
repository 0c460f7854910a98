"""The score helpers: the reads' contractions are matrix products, so FLOP counters see them."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnbench.ops.scores import weighted_sum, weights_backward


def _counted(fn, *args):
    with FlopCounterMode(display=False) as counter:
        out = fn(*args)
    return out, counter.get_total_flops()


def test_weighted_sum_and_its_weights_gradient_are_counted_matrix_products():
    b, k, h = 2, 3, 4
    weights, values, d_summary = torch.rand(b, k), torch.rand(b, k, h), torch.rand(b, h)
    summary, flops = _counted(weighted_sum, weights, values)
    torch.testing.assert_close(summary, torch.einsum("bk,bkh->bh", weights, values))
    assert flops == 2 * b * k * h
    d_weights, flops = _counted(weights_backward, values, d_summary)
    torch.testing.assert_close(d_weights, torch.einsum("bkh,bh->bk", values, d_summary))
    assert flops == 2 * b * k * h


def test_the_same_on_strided_views_of_whole_rows():
    """The banks store value and key side by side; the reads take views of the value half."""
    b, k, h = 2, 3, 4
    rows = torch.rand(b, k, 2 * h)
    values, weights, d_summary = rows[..., :h], torch.rand(b, k), torch.rand(b, h)
    torch.testing.assert_close(weighted_sum(weights, values), torch.einsum("bk,bkh->bh", weights, values.contiguous()))
    torch.testing.assert_close(
        weights_backward(values, d_summary), torch.einsum("bkh,bh->bk", values.contiguous(), d_summary)
    )
