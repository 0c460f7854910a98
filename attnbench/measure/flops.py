"""Counted matrix-multiply FLOPs (torch's FlopCounterMode plus the ops it misses) and the machine's
own matrix-multiply rate.

``FlopCounterMode`` counts mm, addmm, bmm, baddbmm, convolutions and attention kernels, but nothing
for matrix-vector products or the fused recurrent kernels, so an LSTM run through ``nn.LSTM``
counts zero. :data:`EXTRA_FORMULAS` adds them: ``aten.mv``/``addmv``/``dot``/``vdot``/``addbmm``, the
in-place ``addmv_``/``addmm_`` (with which the step nodes sum weight gradients), the oneDNN LSTM layer
on CPU (``aten.mkldnn_rnn_layer`` and its backward) and cuDNN's (``aten._cudnn_rnn`` and its backward).
FLOPs are 2 per multiply-add, as in torch's own formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from attnbench.measure.timing import time_fn
from attnbench.variants.base import FlopCount

aten = torch.ops.aten

# ----- formulas for the ops FlopCounterMode misses (they receive shapes, not tensors) --------------


def _mv_flop(mat_shape: Sequence[int], vec_shape: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any) -> int:
    return 2 * mat_shape[0] * mat_shape[1]


def _addmv_flop(_self: Any, mat_shape: Sequence[int], vec_shape: Sequence[int], *args: Any, **kw: Any) -> int:
    return 2 * mat_shape[0] * mat_shape[1]


def _addmm_flop(_self: Any, a_shape: Sequence[int], b_shape: Sequence[int], *args: Any, **kw: Any) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _dot_flop(a_shape: Sequence[int], b_shape: Sequence[int], *args: Any, **kw: Any) -> int:
    return 2 * a_shape[0]


def _addbmm_flop(_self: Any, a_shape: Sequence[int], b_shape: Sequence[int], *args: Any, **kw: Any) -> int:
    b, n, m = a_shape
    return 2 * b * n * m * b_shape[2]


def _rnn_rows(input_shape: Sequence[int]) -> int:
    """Time steps times batch rows of a recurrent input (batched (B, T, I)/(T, B, I) or packed (N, I))."""
    return math.prod(input_shape[:-1])


def _weight_flops(rows: int, weights: Sequence[Any]) -> int:
    """2 * rows * (sum of the sizes of the weight matrices): every matrix is applied once per row.

    Covers LSTM, GRU and RNN, several layers and directions, and projections, whatever the gate count.
    """
    return 2 * rows * sum(math.prod(w) for w in weights if w is not None and len(w) == 2)


def _mkldnn_rnn_layer_flop(input_shape: Sequence[int], w_ih: Any, w_hh: Any, *args: Any, **kw: Any) -> int:
    return _weight_flops(_rnn_rows(input_shape), (w_ih, w_hh))


def _mkldnn_rnn_layer_backward_flop(input_shape: Sequence[int], w_ih: Any, w_hh: Any, *args: Any, **kw: Any) -> int:
    # oneDNN always computes the input, state and weight gradients: twice the forward
    return 2 * _weight_flops(_rnn_rows(input_shape), (w_ih, w_hh))


def _cudnn_rnn_flop(input_shape: Sequence[int], weights: Sequence[Any], *args: Any, **kw: Any) -> int:
    return _weight_flops(_rnn_rows(input_shape), weights)


def _cudnn_rnn_backward_flop(input_shape: Sequence[int], weights: Sequence[Any], *args: Any, **kw: Any) -> int:
    # backward-data (input and state gradients) always runs; backward-weights only when asked for
    output_mask = args[-1] if args and isinstance(args[-1], (list, tuple)) else kw.get("output_mask", (True,) * 4)
    data = _weight_flops(_rnn_rows(input_shape), weights)
    return data + (data if output_mask[3] else 0)


EXTRA_FORMULAS: dict[Any, Callable[..., int]] = {
    aten.mv: _mv_flop,
    aten.addmv: _addmv_flop,
    aten.addmv_: _addmv_flop,  # in-place forms: reads accumulate gradients with them
    aten.addmm_: _addmm_flop,
    aten.dot: _dot_flop,
    aten.vdot: _dot_flop,
    aten.addbmm: _addbmm_flop,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flop,
    aten.mkldnn_rnn_layer_backward: _mkldnn_rnn_layer_backward_flop,
    aten._cudnn_rnn: _cudnn_rnn_flop,
    aten._cudnn_rnn_backward: _cudnn_rnn_backward_flop,
}


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts :data:`EXTRA_FORMULAS`."""
    return FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS)


def counts_by_op(counter: FlopCounterMode) -> dict[str, int]:
    """{op name: FLOPs} of a finished counter."""
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


def count_flops(forward: Callable[[], Tensor], backward: Callable[[Tensor], Any]) -> tuple[FlopCount, dict[str, int]]:
    """Counted FLOPs of ``out = forward()`` and of ``backward(out)``, and the per-op totals of both.

    Whatever runs between the two (a loss computed in ``backward``) is counted with the backward.
    """
    with flop_counter() as fwd:
        out = forward()
    with flop_counter() as bwd:
        backward(out)
    by_op = counts_by_op(fwd)
    for op, n in counts_by_op(bwd).items():
        by_op[f"{op} (backward)"] = n
    return FlopCount(float(fwd.get_total_flops()), float(bwd.get_total_flops())), by_op


# ----- the machine's own matrix-multiply rate ------------------------------------------------------

_RATES: dict[tuple[str, str, int, int, int], float] = {}
MIN_SAMPLE_S = 1e-3  # each sample runs enough products to last about this long


def matmul_rate(
    m: int, k: int, n: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, repeats: int = 15
) -> float:
    """Achieved FLOP/s of an (m, k) @ (k, n) product on ``device``, measured once per process and size.

    Each timed sample runs the product enough times to last about :data:`MIN_SAMPLE_S`; the median
    sample gives the rate.
    """
    device = torch.device(device)
    key = (str(device), str(dtype), m, k, n)
    if key in _RATES:
        return _RATES[key]
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(device, dtype)
    b = torch.randn(k, n, generator=gen).to(device, dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)

    def once() -> None:
        torch.mm(a, b, out=out)

    one = time_fn(once, repeats=5, warmup=3, device=device).median
    inner = max(1, min(100_000, math.ceil(MIN_SAMPLE_S / max(one, 1e-9))))

    def many() -> None:
        for _ in range(inner):
            torch.mm(a, b, out=out)

    sample = time_fn(many, repeats=repeats, warmup=1, device=device).median
    rate = 2.0 * m * k * n * inner / sample
    _RATES[key] = rate
    return rate


__all__ = [
    "EXTRA_FORMULAS",
    "MIN_SAMPLE_S",
    "count_flops",
    "counts_by_op",
    "flop_counter",
    "matmul_rate",
]
