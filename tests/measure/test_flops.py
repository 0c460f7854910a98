"""Counted FLOPs against every variant's analytic formula, and the formulas for ops torch misses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbench.measure.flops import (
    _cudnn_rnn_backward_flop,
    _cudnn_rnn_flop,
    count_flops,
    flop_counter,
    matmul_rate,
)
from attnbench.variants import Shape, build_variant, get_variant, list_variants
from attnbench.variants.registry import VARIANTS

TOLERANCE = 0.02
# T=150: past the 64-step chunks in which the step nodes sum their weight gradients (in-place addmm_)
SIZES = [Shape(2, 16, 5, 4, 8), Shape(3, 33, 10, 9, 12), Shape(1, 64, 3, 2, 16), Shape(1, 150, 3, 2, 4)]
# built-ins get their parameter corners too; every variant, plugins included, gets its defaults
EXTRA_PARAMS = {
    "lstm": [{"fused": False}, {"k_trunc": 5}, {"k_trunc": 5, "fused": False}],
    "sab": [{"k_att": 2, "k_top": 2, "k_trunc": 3}, {"k_att": 1, "k_top": 3, "max_mem": 5, "mlp_hidden": 6}],
    "rsm": [{"nu": 3, "rho": 2}, {"nu": 4, "rho": 0}],
}
# (variant, params, shape) cases the lead's analytic formula does not match yet; see the report
KNOWN_MISMATCH: dict[tuple[str, str, str], str] = {}


def _cases() -> list:
    cases = []
    for name in list_variants():
        extra = EXTRA_PARAMS.get(name, []) if VARIANTS.origin(name) == "attnbench" else []
        for params in [{}, *extra]:
            for s in SIZES:
                items = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
                ident = f"{name}[{items}]-B{s.batch}-T{s.seq_len}-H{s.hidden_size}"
                cases.append(pytest.param(name, params, s, id=ident))
    return cases


def counted(name: str, params: dict, s: Shape):
    torch.manual_seed(0)
    model = build_variant(name, s.input_size, s.output_size, s.hidden_size, **params)
    x = torch.randn(s.batch, s.seq_len, s.input_size)
    return count_flops(lambda: model(x).logits, lambda out: out.square().mean().backward())


@pytest.mark.parametrize(("name", "params", "shape"), _cases())
def test_counted_flops_match_analytic(name: str, params: dict, shape: Shape) -> None:
    cls = get_variant(name)
    if cls.skip(shape.seq_len, **params):
        pytest.skip(cls.skip(shape.seq_len, **params))
    analytic = cls.analytic_flops(shape, **params)
    if analytic is None:
        pytest.skip(f"{name} has no analytic_flops")
    count, by_op = counted(name, params, shape)
    assert count.forward > 0
    for part in ("forward", "backward"):
        got, want = getattr(count, part), getattr(analytic, part)
        assert abs(got - want) <= TOLERANCE * want, f"{part}: counted {got:.0f} vs analytic {want:.0f}; {by_op}"


def test_fused_lstm_is_counted() -> None:
    b, t, i, h = 3, 7, 5, 8
    rnn = nn.LSTM(i, h, batch_first=True)
    x = torch.randn(b, t, i)
    count, by_op = count_flops(lambda: rnn(x)[0], lambda out: out.sum().backward())
    assert count.forward == 8 * b * t * h * (i + h)  # 4 gates, 2 FLOPs per multiply-add
    assert count.backward == 2 * count.forward  # input, state and weight gradients
    if torch.backends.mkldnn.is_available():
        assert "aten.mkldnn_rnn_layer" in by_op


@pytest.mark.parametrize(
    ("layers", "bidirectional", "cell"), [(2, False, nn.LSTM), (2, True, nn.GRU), (1, True, nn.RNN)]
)
def test_fused_rnn_counts_every_layer_and_direction(layers: int, bidirectional: bool, cell: type) -> None:
    b, t, i, h = 2, 5, 3, 4
    rnn = cell(i, h, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(b, t, i)
    count, _ = count_flops(lambda: rnn(x)[0], lambda out: out.sum().backward())
    matrices = sum(p.numel() for n, p in rnn.named_parameters() if n.startswith("weight"))
    assert count.forward == 2 * b * t * matrices


def test_matrix_vector_products_are_counted() -> None:
    a, v, w = torch.randn(6, 7), torch.randn(7), torch.randn(6)
    with flop_counter() as c:
        torch.mv(a, v)
        torch.addmv(w, a, v)
        torch.dot(v, v)
        torch.randn(5, 6, 7) @ v  # matmul folds to mv
    assert c.get_total_flops() == 2 * 42 + 2 * 42 + 2 * 7 + 2 * 5 * 42


def test_cudnn_formulas() -> None:
    # _cudnn_rnn receives shapes: input (T, B, I), a flat weight list [w_ih, w_hh, b_ih, b_hh] per layer
    t, b, i, h = 5, 3, 4, 6
    weights = [(4 * h, i), (4 * h, h), (4 * h,), (4 * h,)]
    fwd = _cudnn_rnn_flop((t, b, i), weights, 4, None, (1, b, h), (1, b, h), 2, h, 0, 1, False, 0.0, True, False)
    assert fwd == 8 * b * t * h * (i + h)
    tail = ((1, b, h), None, 2, h, 0, 1, False, 0.0, True, False, [], None, (0,))
    assert _cudnn_rnn_backward_flop((t, b, i), weights, 4, None, *tail, [True, True, True, True]) == 2 * fwd
    assert _cudnn_rnn_backward_flop((t, b, i), weights, 4, None, *tail, [False, True, True, False]) == fwd


def test_matmul_rate_is_measured_once_per_size() -> None:
    rate = matmul_rate(4, 8, 32)
    assert rate > 0
    assert matmul_rate(4, 8, 32) == rate  # cached: the same number for the whole run
