"""Dense additive attention over a contiguous range of :class:`StateBank` rows, hand-written backward.

Weights are ``softmax_i(v . sigmoid(q + k_i))`` (the sigmoid form of :mod:`attnbench.ops.scores`)
over rows ``[start, stop)``, and the summary is ``sum_i a_i value_i``. The rows are read in place (a
view of the bank, no copy) and backward recomputes the (B, K, D) activations instead of keeping them,
so the memory kept per step is the (B, K) weights. The plain autograd version is
:func:`attnbench.ops.naive.additive_read_naive`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops.scores import softmax_attend, softmax_attend_backward
from attnbench.ops.state_bank import BankStorage, StateBank


def additive_attend(bank: BankStorage, query: Tensor, v: Tensor, start: int, stop: int) -> tuple[Tensor, Tensor]:
    """Forward of :func:`additive_read` (no autograd): summary (B, value_dim) and weights (B, K)."""
    values, keys = bank.values[:, start:stop], bank.keys[:, start:stop]  # views, no copy
    return softmax_attend(values, keys, query, v, None, bank.scratch)


def additive_attend_backward(
    bank: BankStorage,
    query: Tensor,
    v: Tensor,
    weights: Tensor,
    start: int,
    stop: int,
    d_summary: Tensor,
    grad_v: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Backward of :func:`additive_attend`: adds the rows' gradients into the bank's accumulator (and d_v
    into ``grad_v`` when given); returns d_query and d_v."""
    rows = slice(start, stop)
    acc_values, acc_keys = bank.grad_buffer()
    return softmax_attend_backward(
        bank.values[:, rows], bank.keys[:, rows], query, v, weights, d_summary, bank.scratch,
        acc_values[:, rows], acc_keys[:, rows], grad_v,
    )  # fmt: skip


class _AdditiveRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, v, token, bank, start, stop):  # noqa: ANN001, ANN205
        summary, weights = additive_attend(bank, query, v, start, stop)
        ctx.bank, ctx.start, ctx.stop = bank, start, stop
        ctx.save_for_backward(query, v, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, v, weights = ctx.saved_tensors
        d_query, d_v = additive_attend_backward(ctx.bank, query, v, weights, ctx.start, ctx.stop, d_summary)
        return d_query, d_v, None, None, None, None


def additive_read(
    bank: StateBank, query: Tensor, v: Tensor, *, start: int = 0, stop: int | None = None
) -> tuple[Tensor, Tensor]:
    """Softmax attention ``softmax_i(v . sigmoid(query + key_i))`` over bank rows ``[start, stop)``.

    Args:
        bank: the store of past states, keys in sigmoid form.
        query: (B, D) query in sigmoid form.
        v: (D,) output vector in sigmoid form.
        start, stop: the rows to attend over (default: every row written so far).

    Returns:
        summary (B, value_dim) and the weights (B, K), which carry no gradient.
    """
    stop = bank.size if stop is None else stop
    return _AdditiveRead.apply(query, v, bank.token, bank.storage, start, stop)
