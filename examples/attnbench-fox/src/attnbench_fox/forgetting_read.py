"""Forgetting attention over :class:`attnbench.ops.StateBank` rows, and its provably safe pruning.

Each bank row ``j`` holds a value ``v_j`` (B, H) and a key row ``[k_j ; log f_j]`` (B, d + 1): the key
and the log forget gate of that step. Reading rows ``[start, stop)`` with a query ``q`` (already
scaled by ``1/sqrt(d)``) gives

    s_j = q . k_j + D_j,   D_j = sum_{l=j+1}^{stop-1} log f_l  (<= 0),
    a = softmax(s),        summary = sum_j a_j v_j.

The newest row has ``D = 0``; every later gate ``f_l < 1`` pushes older rows further down. FoX's bias
``L_i - L_j`` (``L`` the cumulative log gate, ``i`` the query's own step) adds the same ``log f_i`` to
every row, which the softmax ignores, so the bias is taken relative to the newest row. It is summed
from the newest row backwards within the rows read, in float32 or wider: no large cumulative values that
cancel, so it stays exact in long sequences and in bfloat16 models.

Adaptive Computation Pruning (ACP, Lin et al. 2025). With ``U >= |q . k_j|`` for every row (here
``|q| max_j |k_j|``, Cauchy-Schwarz), ``N`` rows and a tolerance ``eps``, let
``delta = -(2 U + log N) + log eps``. Every pruned row (``D_j < delta``) has ``exp(s_j) < exp(-U) eps / N``
while the newest row has ``exp(s) >= exp(-U)``, so the pruned rows hold at most ``eps`` of the softmax
mass. Renormalising over the kept rows then moves the summary by at most
``eps * (max_j v_j - min_j v_j) <= 2 eps max|v|`` per coordinate (see :func:`pruned_output_bound`).
``D_j`` grows with ``j``, so the pruned rows are a prefix ``[0, j0)`` and the read simply starts at
``j0``: the pruned rows are never touched, forward or backward.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from attnbench.ops import StateBank
from torch import Tensor


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype the biases and the softmax are computed in: at least float32."""
    return torch.promote_types(dtype, torch.float32)


class _ForgettingRead(torch.autograd.Function):
    """Forward keeps only the (B, K) weights; rows are read in place from the bank."""

    @staticmethod
    def forward(ctx, query, token, bank, start, stop):  # noqa: ANN001, ANN205
        d, wide = query.shape[1], _wide(query.dtype)
        keys, values = bank.keys[:, start:stop], bank.values[:, start:stop]  # (B, K, d + 1), (B, K, H): views
        suffix = keys[:, :, d].to(wide).flip(1).cumsum(1).flip(1)  # sum_{l >= j} log f_l
        bias = F.pad(suffix[:, 1:], (0, 1))  # D_j = sum_{l > j} log f_l, (B, K)
        scores = torch.bmm(keys[:, :, :d], query.unsqueeze(2)).squeeze(2).to(wide) + bias  # (B, K)
        weights = torch.softmax(scores, dim=1).to(query.dtype)
        summary = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, H)
        ctx.bank, ctx.start, ctx.stop = bank, start, stop
        ctx.save_for_backward(query, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, weights = ctx.saved_tensors
        bank = ctx.bank
        d, wide = query.shape[1], _wide(query.dtype)
        rows = slice(ctx.start, ctx.stop)
        d_weights = torch.bmm(bank.values[:, rows], d_summary.unsqueeze(2)).squeeze(2).to(wide)  # (B, K)
        w = weights.to(wide)
        d_scores = w * (d_weights - (w * d_weights).sum(1, keepdim=True))  # softmax backward
        d_bias = F.pad(d_scores.cumsum(1)[:, :-1], (1, 0))  # d log f_l = sum_{j < l} ds_j
        d_scores = d_scores.to(query.dtype)
        d_query = torch.bmm(d_scores.unsqueeze(1), bank.keys[:, rows, :d]).squeeze(1)  # (B, d)
        acc_values, acc_keys = bank.grad_buffer()
        acc_values[:, rows].addcmul_(weights.unsqueeze(2), d_summary.unsqueeze(1))  # += a_j d_summary
        acc_keys[:, rows, :d].addcmul_(d_scores.unsqueeze(2), query.unsqueeze(1))  # += ds_j q
        acc_keys[:, rows, d] += d_bias.to(query.dtype)
        return d_query, None, None, None, None


def forgetting_read(bank: StateBank, query: Tensor, *, start: int, stop: int) -> tuple[Tensor, Tensor]:
    """Forgetting attention of ``query`` (B, d), scaled by ``1/sqrt(d)``, over bank rows ``[start, stop)``.

    The bank's key rows are ``[k_j ; log f_j]`` (key_dim = d + 1). Returns the summary (B, value_dim) and the
    weights (B, stop - start), which carry no gradient. Matrix multiplies: forward and backward each
    ``2 B K (d + value_dim)`` FLOPs for ``K = stop - start`` rows.
    """
    if not 0 <= start < stop <= bank.size:
        raise ValueError(f"rows [{start}, {stop}) are not a non-empty range of the {bank.size} rows written")
    if bank.key_dim != query.shape[1] + 1:
        raise ValueError(f"bank key_dim {bank.key_dim} must be the query size {query.shape[1]} + 1")
    return _ForgettingRead.apply(query, bank.token, bank.storage, start, stop)


def acp_start(
    neg_log_decay: Tensor,
    query_norm: Tensor,
    key_norm: Tensor,
    *,
    lo: int,
    stop: int,
    log_eps: float,
) -> int:
    """The first row to read so that the skipped rows ``[lo, j0)`` hold at most ``eps`` of the mass.

    Args:
        neg_log_decay: (B, capacity) with ``-L_j = -sum_{l <= j} log f_l`` in the rows written
            (non-decreasing) and ``+inf`` beyond, so that a sorted search sees only the written rows;
            detached, and best in float64: ``L`` grows without bound and only differences matter.
        query_norm: (B,) ``|q|`` of the scaled query.
        key_norm: (B,) an upper bound on ``|k_j|`` over the rows ``[lo, stop)`` (a running maximum).
        lo, stop: the rows the unpruned read would cover.
        log_eps: the tolerance ``log eps`` (< 0).

    One window serves the whole batch: the smallest per-example ``j0``. An example whose own ``j0`` is
    larger reads a few rows it could have skipped, which only lowers its pruned mass, so every example
    keeps the ``eps`` guarantee; skipping rows per example would need ragged reads, and masking them
    in a dense read would save nothing.
    """
    n_keys = stop - lo
    with torch.no_grad():
        bound = query_norm * key_norm  # U >= |q . k_j|
        delta = log_eps - 2.0 * bound - math.log(n_keys)  # (B,)
        # row j is pruned iff L_{stop-1} - L_j < delta, i.e. -L_j < delta - L_{stop-1}
        threshold = (delta + neg_log_decay[:, stop - 1]).unsqueeze(1)  # (B, 1)
        pruned = torch.searchsorted(neg_log_decay, threshold)  # (B, 1): rows with -L_j < threshold
    # the newest row has D = 0 >= delta, so at least one row is always kept
    return min(max(lo, int(pruned.min())), stop - 1)


def pruned_output_bound(values: Tensor, log_eps: float) -> Tensor:
    """Per-coordinate bound (B, H) on ``|summary_pruned - summary_full|`` given the rows ``values`` (B, K, H).

    With pruned mass ``m <= eps`` the difference is ``m (mean of kept - mean of pruned)``, both convex
    combinations of the rows, so it is at most ``eps (max_j v_j - min_j v_j) <= 2 eps max|v|``.
    """
    return math.exp(log_eps) * (values.amax(1) - values.amin(1))


__all__ = ["acp_start", "forgetting_read", "pruned_output_bound"]
