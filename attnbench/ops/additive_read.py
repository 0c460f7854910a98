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

from attnbench.ops.scores import activations, score_backward, softmax_backward, weighted_sum, weights_backward
from attnbench.ops.state_bank import BankStorage, StateBank


class _AdditiveRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, v, token, bank, start, stop):  # noqa: ANN001, ANN205
        keys, values = bank.keys[:, start:stop], bank.values[:, start:stop]  # views, no copy
        z = activations(keys, query, out=bank.scratch.get("z", keys.shape))  # (B, K, D)
        weights = torch.softmax(z @ v, dim=1)  # (B, K)
        summary = weighted_sum(weights, values, out=bank.scratch.get("v", values.shape))  # (B, H)
        ctx.bank, ctx.start, ctx.stop = bank, start, stop
        ctx.save_for_backward(query, v, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, v, weights = ctx.saved_tensors
        bank: BankStorage = ctx.bank
        rows = slice(ctx.start, ctx.stop)
        keys, values = bank.keys[:, rows], bank.values[:, rows]
        z = activations(keys, query, out=bank.scratch.get("z", keys.shape))  # recomputed
        d_weights = weights_backward(values, d_summary, out=bank.scratch.get("v", values.shape))  # (B, K)
        d_scores = softmax_backward(weights, d_weights)
        d_query, d_v, d_keys = score_backward(d_scores, z, v, out=bank.scratch.get("g", keys.shape))
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
