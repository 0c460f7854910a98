"""Plain autograd references for the fast reads, written as the papers state them.

Slow, memory-hungry and obviously right: the tests hold the fast paths to these, forward and
backward. Shapes: query (B, D), keys (B, M, D) raw (not doubled), values (B, M, H).
"""

from __future__ import annotations

import torch
from torch import Tensor


def additive_read_naive(
    query: Tensor, keys: Tensor, values: Tensor, v: Tensor, valid: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``softmax_i(v . tanh(query + key_i))`` and the weighted sum of values."""
    scores = torch.tanh(query.unsqueeze(1) + keys) @ v  # (B, M)
    if valid is not None:
        scores = scores.masked_fill(~valid, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return (weights.unsqueeze(2) * values).sum(1), weights


def sparse_read_naive(query: Tensor, keys: Tensor, values: Tensor, w: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """SAB's sparsified attention: subtract the (k+1)-th largest score, clamp at 0, normalise.

    With k memories or fewer, softmax over all of them. Returns the summary and the (B, M) weights.
    """
    scores = torch.tanh(query.unsqueeze(1) + keys) @ w  # (B, M)
    if scores.shape[1] <= k:
        weights = torch.softmax(scores, dim=1)
    else:
        threshold = scores.topk(k + 1, dim=1).values[:, k:]  # (B, 1)
        shifted = torch.clamp(scores - threshold, min=0)
        weights = shifted / (shifted.sum(1, keepdim=True) + 1e-12)
    return (weights.unsqueeze(2) * values).sum(1), weights
