"""Sparse attentive backtracking's top-k read over :class:`StateBank` rows, hand-written backward.

Scores are the MLP ``s_i = w . sigmoid(q + k_i)`` (the sigmoid form of :mod:`attnbench.ops.scores`).
With more than ``k`` memories the weights are ``relu(s_i - s_(k+1)) / sum_j relu(s_j - s_(k+1))`` where
``s_(k+1)`` is the (k+1)-th largest score, so at most ``k`` are non-zero; with ``k`` memories or fewer
they are ``softmax(s)`` over all of them. The summary is ``sum_i a_i value_i``.

Only the ``k + 1`` largest scores receive gradient (the rest fall below the threshold), so forward
scores every memory without keeping anything, takes the ``k + 1`` winners' scores from the top-k and
gathers their values, and backward works on those alone: O(B k D) backward work and memory per step
instead of O(B M D). The plain autograd version is :func:`attnbench.ops.naive.sparse_read_naive`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops.scores import activations, score, score_backward, softmax_backward, weights_backward
from attnbench.ops.state_bank import BankStorage, StateBank

EPS = 1e-12  # guards the normaliser when every score ties with the threshold


def sparse_attend(
    bank: BankStorage, query: Tensor, w: Tensor, k: int, start: int, stop: int
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """Forward of :func:`sparse_read` (no autograd): summary, weights, rows (None when every row is
    attended), and for backward the winners' flat indices and the normaliser (None likewise)."""
    if stop - start > k:
        keys = bank.keys[:, start:stop]  # (B, M, D), a view
        all_scores = score(activations(keys, query, out=bank.scratch.get("z", keys.shape)), w)  # (B, M), nothing kept
        scores, index = all_scores.topk(k + 1, dim=1)  # (B, k+1), descending
        if start:
            index += start
        flat = bank.flat(index)
        values = bank.values_2d.index_select(0, flat).view(*index.shape, -1)
        shifted = torch.relu(scores - scores[:, k:])  # the (k+1)-th is the threshold
        norm = shifted.sum(1, keepdim=True).add_(EPS)
        weights = shifted.div_(norm)
    else:
        index, flat, norm = None, None, None
        values = bank.values[:, start:stop]
        weights = torch.softmax(score(activations(bank.keys[:, start:stop], query), w), dim=1)
    summary = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, H)
    return summary, weights, index, flat, norm


def sparse_attend_backward(
    bank: BankStorage,
    query: Tensor,
    w: Tensor,
    weights: Tensor,
    flat: Tensor | None,
    norm: Tensor | None,
    start: int,
    stop: int,
    d_summary: Tensor,
    grad_w: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Backward of :func:`sparse_attend`: adds the rows' gradients into the bank's accumulator (and d_w
    into ``grad_w`` when given); returns d_query and d_w."""
    k = weights.shape[1] - 1
    if flat is None:
        values, keys = bank.values[:, start:stop], bank.keys[:, start:stop]
    else:
        values, keys = bank.rows(flat, weights.shape)
    z = activations(keys, query)  # (B, K, D), recomputed
    d_weights = weights_backward(values, d_summary)  # (B, K)
    if flat is None:
        d_query, d_w, d_keys = score_backward(softmax_backward(weights, d_weights), z, w, grad_v=grad_w)
        acc_values, acc_keys = bank.grad_buffer()
        acc_values[:, start:stop].addcmul_(weights.unsqueeze(2), d_summary.unsqueeze(1))
        acc_keys[:, start:stop] += d_keys
        return d_query, d_w
    # a = relu(s - s_k) / (sum + eps); only the winners (a > 0) pass gradient
    d_scores = d_weights.sub_((weights * d_weights).sum(1, keepdim=True)).div_(norm).mul_(weights > 0)
    d_scores[:, k:].sub_(d_scores.sum(1, keepdim=True))  # the threshold's share
    # the rows' gradients side by side as whole rows, added into the bank's accumulator at once
    d_rows = bank.scratch.get("rows", (*weights.shape, bank.data.shape[-1]))
    torch.mul(weights.unsqueeze(2), d_summary.unsqueeze(1), out=d_rows[..., : bank.value_dim])
    d_query, d_w, _ = score_backward(d_scores, z, w, out=d_rows[..., bank.value_dim :], grad_v=grad_w)
    bank.grad_2d().index_add_(0, flat, d_rows.view(-1, d_rows.shape[-1]))
    return d_query, d_w


class _SparseRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, w, token, bank, start, stop, k):  # noqa: ANN001, ANN205
        summary, weights, index, flat, norm = sparse_attend(bank, query, w, k, start, stop)
        ctx.bank, ctx.start, ctx.stop = bank, start, stop
        ctx.save_for_backward(query, w, weights, flat, norm)
        ctx.mark_non_differentiable(weights)
        if index is not None:
            ctx.mark_non_differentiable(index)
        return summary, weights, index

    @staticmethod
    def backward(ctx, d_summary, _d_weights, _d_index):  # noqa: ANN001, ANN205
        query, w, weights, flat, norm = ctx.saved_tensors
        d_query, d_w = sparse_attend_backward(ctx.bank, query, w, weights, flat, norm, ctx.start, ctx.stop, d_summary)
        return d_query, d_w, None, None, None, None, None


def sparse_read(
    bank: StateBank, query: Tensor, w: Tensor, k: int, *, start: int = 0, stop: int | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Top-k sparse attention of SAB over bank rows ``[start, stop)``.

    Args:
        bank: the memories, keys in sigmoid form.
        query: (B, D) the MLP's first-layer projection of the provisional state, bias included,
            in sigmoid form.
        w: (D,) the MLP's output weights in sigmoid form.
        k: the number of memories that may get non-zero weight.

    Returns:
        summary (B, value_dim); weights (B, K); and the bank rows they belong to (B, K), or None
        when K = stop - start (all memories, in order). With more than k memories K = k + 1 (the
        last weight is the threshold's, always 0). Weights and rows carry no gradient.
    """
    stop = bank.size if stop is None else stop
    return _SparseRead.apply(query, w, bank.token, bank.storage, start, stop, k)
