"""The additive score in sigmoid form, and its backward, shared by every read.

Every attention in attnbench scores with an MLP of one hidden layer, ``e_i = v . tanh(q + k_i)``.
Because ``tanh(u) = 2 sigmoid(2u) - 1``, the same scores are ``e_i = v' . sigmoid(q' + k'_i) - sum(v)``
with ``q' = 2q``, ``k'_i = 2k_i`` and ``v' = 2v``. Softmax, and SAB's sparsifier, ignore the constant
``sum(v)``, so the reads work in this sigmoid form: :func:`to_sigmoid_form` turns tanh-form weights
into it once per forward pass. It is the same function, computed faster: on CPU torch's tanh kernel
is about 10x slower than its sigmoid, and the recurrences run a (B, K, D) activation every step.

Replicate groups (:mod:`attnbench.ops.grouped`): ``v`` may be (G, D), one vector per replicate, for
(G*B, ...) group-major rows; the scores are then one batched product and ``d_v`` is (G, D).
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGMOID_FORM = 2.0  # tanh(u) = 2 sigmoid(2u) - 1


def to_sigmoid_form(weight: Tensor) -> Tensor:
    """Scale a tanh-form score parameter (query/key projection, bias or output vector) into sigmoid form."""
    return weight * SIGMOID_FORM


class Scratch:
    """Reusable buffers for the (B, K, D) temporaries of the reads.

    torch's CPU allocator does not cache: a fresh multi-megabyte temporary every step costs page
    faults and cold caches, more than the arithmetic on it. ``get(slot, shape)`` returns a contiguous
    view of a buffer kept for ``slot``, grown (at least doubled) when needed; a slot's previous
    contents are dead then.
    """

    def __init__(self, like: Tensor) -> None:
        self._like = like
        self._buffers: dict[str, Tensor] = {}
        self._views: dict[tuple[str, tuple[int, ...]], Tensor] = {}  # the same few shapes, step after step

    def get(self, slot: str, shape: tuple[int, ...]) -> Tensor:
        """A contiguous tensor of ``shape`` whose contents are undefined."""
        view = self._views.get((slot, shape))
        if view is not None:
            return view
        n = 1
        for size in shape:
            n *= size
        buf = self._buffers.get(slot)
        if buf is None or buf.numel() < n:
            # grow geometrically: dense attention asks for one more row every step, and a new buffer
            # each time fragments the heap (at batch 256 and 1,020 steps, past 24 GB of address space)
            grown = n if buf is None else max(n, 2 * buf.numel())
            buf = self._buffers[slot] = self._like.new_empty(grown)
            self._views = {key: view for key, view in self._views.items() if key[0] != slot}
        view = self._views[(slot, tuple(shape))] = buf[:n].view(shape)
        return view


def activations(keys: Tensor, query: Tensor, out: Tensor | None = None) -> Tensor:
    """``sigmoid(q + k_i)``: keys (B, K, D), query (B, D) -> (B, K, D), into ``out`` when given."""
    if out is None:
        return torch.sigmoid_(keys + query.unsqueeze(1))
    return torch.sigmoid_(torch.add(keys, query.unsqueeze(1), out=out))


def score(z: Tensor, v: Tensor) -> Tensor:
    """``z @ v``: z (B, K, D) activations, v (D,), or (G, D) for a group's (G*B, K, D) rows -> (B, K)."""
    if v.dim() == 1:
        return z @ v
    g, d = v.shape
    return torch.bmm(z.reshape(g, -1, d), v.unsqueeze(2)).view(z.shape[:-1])


def scaled(d_scores: Tensor, v: Tensor, out: Tensor | None = None) -> Tensor:
    """``d_scores_i v``: (B, K), v (D,) or (G, D) -> (B, K, D), into ``out`` when given."""
    if v.dim() == 1:
        return d_scores.unsqueeze(2) * v if out is None else torch.mul(d_scores.unsqueeze(2), v, out=out)
    g, d = v.shape
    n, k = d_scores.shape
    d4, v4 = d_scores.view(g, n // g, k, 1), v.view(g, 1, 1, d)
    if out is None:
        return (d4 * v4).view(n, k, d)
    torch.mul(d4, v4, out=out.view(g, n // g, k, d))
    return out


def vector_grad(d_scores: Tensor, z: Tensor, grad_v: Tensor | None, like: Tensor) -> Tensor:
    """d v of ``scores = z @ v`` (``like`` is v: (D,), or (G, D) per replicate), added into ``grad_v`` when
    given (and returned)."""
    d = z.shape[-1]
    if like.dim() == 1:
        z_2d = z.reshape(-1, d)
        if grad_v is None:
            return (d_scores.reshape(1, -1) @ z_2d).squeeze(0)
        return grad_v.addmv_(z_2d.t(), d_scores.reshape(-1))
    g = like.shape[0]
    z_3d, d_3d = z.reshape(g, -1, d), d_scores.reshape(g, 1, -1)
    if grad_v is None:
        return torch.bmm(d_3d, z_3d).squeeze(1)
    grad_v.unsqueeze(1).baddbmm_(d_3d, z_3d)
    return grad_v


def weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """``sum_i a_i value_i``: (B, K), (B, K, H) -> (B, H), as a batched matrix product (on CPU about twice
    as fast as a product and a sum, at every size the variants use)."""
    return torch.bmm(weights.unsqueeze(1), values).squeeze(1)


def weights_backward(values: Tensor, d_summary: Tensor) -> Tensor:
    """d weights of ``summary = sum_i a_i value_i``: (B, K, H), (B, H) -> (B, K).

    As the batched product (B, 1, H) x (B, H, K): on CPU about twice as fast as a product and a sum,
    and several times faster than (B, K, H) x (B, H, 1), which the batched kernels run as B tiny
    matrix-vector products. Being a matrix product, it is what FLOP counters count.
    """
    return torch.bmm(d_summary.unsqueeze(1), values.transpose(1, 2)).squeeze(1)


def score_backward(
    d_scores: Tensor, z: Tensor, v: Tensor, out: Tensor | None = None, grad_v: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients through ``scores = sigmoid(keys + query) @ v`` given d_scores (B, K).

    Returns d_query (B, D), d_v (D,) or (G, D) (added into ``grad_v`` when given, which is returned) and
    d_keys (B, K, D) (written into ``out`` when given).
    """
    d_v = vector_grad(d_scores, z, grad_v, v)
    if out is None:
        d_keys = torch.ops.aten.sigmoid_backward(scaled(d_scores, v), z)  # (B, K, D)
    else:
        d_keys = scaled(d_scores, v, out=out)
        torch.ops.aten.sigmoid_backward.grad_input(d_keys, z, grad_input=d_keys)
    return d_keys.sum(1), d_v, d_keys


def softmax_backward(weights: Tensor, d_weights: Tensor) -> Tensor:
    """d scores of ``weights = softmax(scores)`` over dim 1."""
    return weights * (d_weights - (weights * d_weights).sum(1, keepdim=True))


def softmax_attend(
    values: Tensor, keys: Tensor, query: Tensor, v: Tensor, valid: Tensor | None, scratch: Scratch
) -> tuple[Tensor, Tensor]:
    """Forward of additive softmax attention: summary (B, H) and weights (B, K) (0 where not valid)."""
    scores = score(activations(keys, query, out=scratch.get("z", keys.shape)), v)  # (B, K)
    if valid is not None:
        scores = scores.masked_fill(~valid, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return weighted_sum(weights, values), weights


def softmax_attend_backward(
    values: Tensor,
    keys: Tensor,
    query: Tensor,
    v: Tensor,
    weights: Tensor,
    d_summary: Tensor,
    scratch: Scratch,
    grad_values: Tensor,
    grad_keys: Tensor,
    grad_v: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Backward of :func:`softmax_attend`: adds into ``grad_values``/``grad_keys`` (and ``grad_v`` when
    given); returns d_query and d_v.

    The (B, K, D) activations are recomputed rather than kept from forward.
    """
    z = activations(keys, query, out=scratch.get("z", keys.shape))
    d_weights = weights_backward(values, d_summary)  # (B, K)
    d_scores = softmax_backward(weights, d_weights)
    d_v = vector_grad(d_scores, z, grad_v, v)
    # g = v z (1 - z) in place of z (one buffer fewer in cache); d keys = d_scores g goes straight into
    # grad_keys, and d_query = sum_i d_scores_i g_i is a batched product (a pass fewer than forming d keys)
    if v.dim() == 1:
        g = torch.ops.aten.sigmoid_backward.grad_input(v.expand_as(z), z, grad_input=z)
    else:  # per replicate: v[g] over replicate g's rows, as (G, B, K, D) views
        n, k, d = z.shape
        z4 = z.view(v.shape[0], -1, k, d)
        g = torch.ops.aten.sigmoid_backward.grad_input(v.view(-1, 1, 1, d).expand_as(z4), z4, grad_input=z4).view(
            n, k, d
        )
    grad_keys.addcmul_(g, d_scores.unsqueeze(2))
    grad_values.addcmul_(weights.unsqueeze(2), d_summary.unsqueeze(1))  # += a_i * d_summary
    return torch.bmm(d_scores.unsqueeze(1), g).squeeze(1), d_v
