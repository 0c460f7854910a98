"""The score helpers: the matmul form that FLOP counting switches on."""

from __future__ import annotations

import threading

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnbench.ops.scores import matmul_form, weights_backward


def test_matmul_form_reaches_other_threads_and_counts_the_weights_gradient():
    """FLOP counting relies on it: on CUDA, autograd runs backward on threads of its own."""
    values, d_summary = torch.rand(2, 3, 4), torch.rand(2, 4)
    out = torch.empty(2, 3, 4)
    counted = []

    def count() -> None:
        with FlopCounterMode(display=False) as counter:
            d_weights = weights_backward(values, d_summary, out=out)
        counted.append(counter.get_total_flops())
        torch.testing.assert_close(d_weights, torch.einsum("bkh,bh->bk", values, d_summary))

    count()  # product and sum: elementwise, not counted
    with matmul_form():
        worker = threading.Thread(target=count)
        worker.start()
        worker.join()
    count()  # the switch is off again after the block
    assert counted == [0, 2 * 2 * 3 * 4, 0]
