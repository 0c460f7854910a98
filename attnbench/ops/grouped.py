"""Products against weights that may carry a replicate-group dimension.

A replicate group trains G models of one configuration at once (``RecurrentVariant.group_forward``):
every weight has a leading dimension G, and the rows of replicate g are rows ``g*B .. g*B+B-1`` of a
``(G*B, ...)`` tensor ("group-major"). Row-wise work runs unchanged on the G*B rows; only products
against weights differ. These helpers take the weight either 2-D (one model: the plain product, exactly
what the ungrouped code did) or 3-D (a group: one batched product over G on ``(G, B, .)`` views), so one
implementation serves both.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def groups_of(weight: Tensor) -> int | None:
    """G for a grouped (3-D) weight, None for a single model's 2-D one."""
    return weight.shape[0] if weight.dim() == 3 else None


def transposed(weight: Tensor) -> Tensor:
    """``weight`` transposed for the products of a forward pass: a view when 2-D (as ever); a contiguous
    copy when grouped, which the batched kernels run a third faster at the sizes of the variants."""
    return weight.t() if weight.dim() == 2 else weight.mT.contiguous()


def mm(a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """``a @ b`` per replicate: a (N, K) rows; b (K, M), or (G, K, M) with replicate g's rows of ``a`` times
    ``b[g]``. Written into ``out`` (N, M) when given."""
    if b.dim() == 2:
        return torch.mm(a, b) if out is None else torch.mm(a, b, out=out)
    g = b.shape[0]
    a3 = a.view(g, -1, a.shape[-1])
    if out is None:
        return torch.bmm(a3, b).view(-1, b.shape[-1])
    if out.is_contiguous():
        torch.bmm(a3, b, out=out.view(g, -1, b.shape[-1]))
    else:  # a strided row (a bank's keys): the batched kernel into a temporary and a copy is twice as fast
        out.copy_(torch.bmm(a3, b).view(out.shape))
    return out


def addmm(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``c + a @ b`` per replicate, c (N, M) rows (see :func:`mm`)."""
    if b.dim() == 2:
        return torch.addmm(c, a, b)
    g = b.shape[0]
    return torch.baddbmm(c.view(g, -1, c.shape[-1]), a.view(g, -1, a.shape[-1]), b).view(c.shape)


def addmm_(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """In place: ``c += a @ b`` per replicate, c (N, M) rows (see :func:`mm`)."""
    if b.dim() == 2:
        return c.addmm_(a, b)
    g = b.shape[0]
    c.view(g, -1, c.shape[-1]).baddbmm_(a.view(g, -1, a.shape[-1]), b)
    return c


def linear(bias: Tensor, a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """``bias + a @ b`` per replicate: bias (M,) with b (K, M), or (G, M) with b (G, K, M)."""
    if b.dim() == 2:
        return torch.addmm(bias, a, b) if out is None else torch.addmm(bias, a, b, out=out)
    g = b.shape[0]
    a3 = a.view(g, -1, a.shape[-1])
    if out is None:
        return torch.baddbmm(bias.unsqueeze(1), a3, b).view(-1, b.shape[-1])
    torch.baddbmm(bias.unsqueeze(1), a3, b, out=out.view(g, -1, b.shape[-1]))
    return out


def outer(a: Tensor, b: Tensor, groups: int | None) -> Tensor:
    """``sum_rows a^T b`` per replicate: a (N, K), b (N, M) group-major rows -> (K, M), or (G, K, M)."""
    if groups is None:
        return a.t() @ b
    return torch.bmm(a.view(groups, -1, a.shape[-1]).transpose(1, 2), b.view(groups, -1, b.shape[-1]))


def row_sum(a: Tensor, groups: int | None) -> Tensor:
    """The sum of the rows of ``a`` (N, M) per replicate: (M,), or (G, M)."""
    return a.sum(0) if groups is None else a.view(groups, -1, a.shape[-1]).sum(1)


def group_major(steps: Tensor, groups: int | None) -> Tensor:
    """(n, G*B, F) step-major rows -> (G*n*B, F) with each replicate's rows together (a copy when grouped),
    as :func:`outer` wants them; (n*B, F) when not grouped."""
    n, rows, f = steps.shape
    if groups is None:
        return steps.reshape(n * rows, f)
    return steps.view(n, groups, rows // groups, f).transpose(0, 1).reshape(n * rows, f)


def group_head(weight: Tensor, bias: Tensor, features: Tensor, groups: int) -> Tensor:
    """A group's output layer: weight (G, C, F), bias (G, C), features (G*B, T, F) -> (G, B, T, C)."""
    rows, t_len, f = features.shape
    out = torch.baddbmm(bias.unsqueeze(1), features.reshape(groups, -1, f), weight.transpose(1, 2))
    return out.view(groups, rows // groups, t_len, -1)


def run_alone(module: torch.nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """A group of one through ``module``'s own forward with replicate 0's weights: params (1, *shape),
    x (1, B, T, I) -> (1, B, T, C). Plain products are faster than batched products over one."""
    alone = {name: p[0] for name, p in params.items()}
    return torch.func.functional_call(module, alone, (x[0],)).logits.unsqueeze(0)


__all__ = [
    "addmm",
    "addmm_",
    "group_head",
    "group_major",
    "groups_of",
    "linear",
    "mm",
    "outer",
    "row_sum",
    "run_alone",
    "transposed",
]
