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

from attnbench.ops.scores import activations, score_backward, softmax_backward
from attnbench.ops.state_bank import BankStorage, StateBank


class _AdditiveRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, v, token, bank, start, stop):  # noqa: ANN001, ANN205
        z = activations(bank.keys[:, start:stop], query)  # (B, K, D)
        weights = torch.softmax(z @ v, dim=1)  # (B, K)
        summary = torch.bmm(weights.unsqueeze(1), bank.values[:, start:stop]).squeeze(1)  # (B, H)
        ctx.bank, ctx.start, ctx.stop = bank, start, stop
        ctx.save_for_backward(query, v, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, v, weights = ctx.saved_tensors
        bank: BankStorage = ctx.bank
        rows = slice(ctx.start, ctx.stop)
        z = activations(bank.keys[:, rows], query)  # recomputed
        d_weights = torch.bmm(bank.values[:, rows], d_summary.unsqueeze(2)).squeeze(2)  # (B, K)
        d_query, d_v, d_keys = score_backward(softmax_backward(weights, d_weights), z, v)
        acc_values, acc_keys = bank.grad_buffer()
        acc_values[:, rows].addcmul_(weights.unsqueeze(2), d_summary.unsqueeze(1))  # += a_i * d_summary
        acc_keys[:, rows] += d_keys
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
