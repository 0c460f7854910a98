"""The score helpers: the matmul form that FLOP counting switches on."""

from __future__ import annotations

import threading

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnbench.ops.scores import matmul_form, weighted_sum


def test_matmul_form_reaches_other_threads_and_counts_the_weighted_sums():
    """FLOP counting relies on it: on CUDA, autograd runs backward on threads of its own."""
    weights, values = torch.rand(2, 3), torch.rand(2, 3, 4)
    out = torch.empty(2, 3, 4)
    counted = []

    def count() -> None:
        with FlopCounterMode(display=False) as counter:
            summary = weighted_sum(weights, values, out=out)
        counted.append(counter.get_total_flops())
        torch.testing.assert_close(summary, torch.einsum("bk,bkh->bh", weights, values))

    count()  # product and sum: elementwise, not counted
    with matmul_form():
        worker = threading.Thread(target=count)
        worker.start()
        worker.join()
    count()  # the switch is off again after the block
    assert counted == [0, 2 * 2 * 3 * 4, 0]
