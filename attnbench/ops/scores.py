"""The additive score in sigmoid form, and its backward, shared by every read.

Every attention in attnbench scores with an MLP of one hidden layer, ``e_i = v . tanh(q + k_i)``.
Because ``tanh(u) = 2 sigmoid(2u) - 1``, the same scores are ``e_i = v' . sigmoid(q' + k'_i) - sum(v)``
with ``q' = 2q``, ``k'_i = 2k_i`` and ``v' = 2v``. Softmax, and SAB's sparsifier, ignore the constant
``sum(v)``, so the reads work in this sigmoid form: :func:`to_sigmoid_form` turns tanh-form weights
into it once per forward pass. It is the same function, computed faster: on CPU torch's tanh kernel
is about 10x slower than its sigmoid, and the recurrences run a (B, K, D) activation every step.
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGMOID_FORM = 2.0  # tanh(u) = 2 sigmoid(2u) - 1


def to_sigmoid_form(weight: Tensor) -> Tensor:
    """Scale a tanh-form score parameter (query/key projection, bias or output vector) into sigmoid form."""
    return weight * SIGMOID_FORM


def activations(keys: Tensor, query: Tensor) -> Tensor:
    """``sigmoid(q + k_i)``: keys (B, K, D), query (B, D) -> a new (B, K, D) tensor."""
    return torch.sigmoid_(keys + query.unsqueeze(1))


def score_backward(d_scores: Tensor, z: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients through ``scores = sigmoid(keys + query) @ v`` given d_scores (B, K).

    Returns d_query (B, D), d_v (D,) and d_keys (B, K, D).
    """
    d_v = (d_scores.reshape(1, -1) @ z.reshape(-1, z.shape[-1])).squeeze(0)
    d_keys = torch.ops.aten.sigmoid_backward(d_scores.unsqueeze(2) * v, z)  # (B, K, D)
    return d_keys.sum(1), d_v, d_keys


def softmax_backward(weights: Tensor, d_weights: Tensor) -> Tensor:
    """d scores of ``weights = softmax(scores)`` over dim 1."""
    return weights * (d_weights - (weights * d_weights).sum(1, keepdim=True))
