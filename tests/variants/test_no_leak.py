"""A training step leaves nothing behind: the whole-sequence nodes make no reference cycle.

A tensor kept on an autograd ``ctx`` that is (a view of) the node's own output closes a cycle through
the output's ``grad_fn`` that Python's collector cannot see, so every pass's buffers stay alive: sab
once grew by about 5 MB a step this way and filled a 24 GB machine in a few thousand steps.
"""

from __future__ import annotations

import gc

import pytest
import torch

from attnbench.ops.lstm_cell import LSTMSequence
from attnbench.variants import build_variant


def _alive() -> int:
    gc.collect()
    return sum(isinstance(o, LSTMSequence) for o in gc.get_objects())


@pytest.mark.parametrize(
    ("variant", "params"),
    [
        ("sab", {"k_att": 1, "k_trunc": 3, "k_top": 2}),
        ("sab", {"k_att": 4}),
        ("dense", {}),
        ("rsm", {"nu": 2, "rho": 2}),
    ],
)
def test_a_pass_is_freed_after_backward(variant: str, params: dict) -> None:
    torch.manual_seed(0)
    model = build_variant(variant, 5, 3, 8, **params)
    before = _alive()
    for _ in range(3):
        model(torch.randn(2, 12, 5)).logits.sum().backward()
    assert _alive() == before
