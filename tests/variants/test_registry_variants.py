"""Checks every registered variant gets, built-ins and installed plugins alike."""

from __future__ import annotations

import math

import pytest
import torch

from attnbench.params import ParameterError
from attnbench.registry import UnknownNameError
from attnbench.variants import build_variant, get_variant, list_variants
from attnbench.variants.base import FlopCount, RecurrentVariant, Shape

B, T, IN, C, H = 3, 23, 5, 4, 8


@pytest.fixture(params=list_variants())
def variant_name(request) -> str:
    return request.param


def _model(name: str) -> RecurrentVariant:
    torch.manual_seed(0)
    return build_variant(name, IN, C, H)


def test_forward_shape_and_finite(variant_name):
    out = _model(variant_name)(torch.randn(B, T, IN))
    assert out.logits.shape == (B, T, C)
    assert torch.isfinite(out.logits).all()
    assert out.diagnostics is None


def test_backward_reaches_every_parameter(variant_name):
    model = _model(variant_name)
    x = torch.randn(B, T, IN, requires_grad=True)
    model(x).logits.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{variant_name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{variant_name}: non-finite gradient for {pname}"


def test_diagnostics_shapes(variant_name):
    model = _model(variant_name)
    out = model(torch.randn(B, T, IN), diagnostics=True)
    d = out.diagnostics
    assert d is not None
    assert len(d.hidden) == T and all(h.shape == (B, H) and h.requires_grad for h in d.hidden)
    assert len(d.weights) == T and len(d.attended) == T
    for w, a in zip(d.weights, d.attended):
        assert (w is None) == (a is None)
        if w is not None:
            assert w.shape == a.shape and w.shape[0] == B
            assert torch.all(w >= 0)
    assert d.occupancy is not None and d.occupancy.shape == (B, T)


def test_diagnostics_match_plain_forward(variant_name):
    model = _model(variant_name)
    x = torch.randn(B, T, IN)
    torch.testing.assert_close(model(x, diagnostics=True).logits, model(x).logits, rtol=1e-5, atol=1e-6)


def test_analytic_flops_declared(variant_name):
    cls = get_variant(variant_name)
    count = cls.analytic_flops(Shape(B, T, IN, C, H))
    if count is None:
        pytest.skip(f"{variant_name} declares no analytic FLOP count")
    assert isinstance(count, FlopCount)
    assert count.forward > 0 and count.backward > 0 and math.isfinite(count.total)


def test_rejects_bad_sizes(variant_name):
    cls = get_variant(variant_name)
    for kwargs in ({"hidden_size": 0}, {"input_size": 0}, {"output_size": -1}):
        args = {"input_size": IN, "output_size": C, "hidden_size": H, **kwargs}
        with pytest.raises(ParameterError, match=next(iter(kwargs))):
            cls(**args)


def test_rejects_unknown_parameter(variant_name):
    with pytest.raises(ParameterError, match="unknown parameter 'no_such_knob'"):
        build_variant(variant_name, IN, C, H, no_such_knob=1)


def test_unknown_variant_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        get_variant("transformer-xl")
    message = str(info.value)
    assert "transformer-xl" in message
    for name in ("lstm", "dense", "sab", "rsm"):
        assert name in message


def test_builtins_registered():
    assert {"lstm", "dense", "sab", "rsm"} <= set(list_variants())


def test_wrong_input_shape_is_a_clear_error(variant_name):
    with pytest.raises(ValueError, match="expected input of shape"):
        _model(variant_name)(torch.randn(B, T, IN + 1))
