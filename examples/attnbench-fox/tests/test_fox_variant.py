"""The fox variant: registration through the entry point, the reference, FLOPs, and what ACP buys."""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from attnbench.params import ParameterError
from attnbench.variants import VARIANTS, Shape, build_variant, get_variant, list_variants
from torch.utils.flop_counter import FlopCounterMode

import attnbench_fox.variant as fox_module
from attnbench_fox import ForgettingAttentionLSTM, forgetting_read, pruned_output_bound
from attnbench_fox.naive import fox_reference

IN, C = 5, 4


def _model(seed: int = 0, hidden: int = 8, **params) -> ForgettingAttentionLSTM:
    torch.manual_seed(seed)
    return build_variant("fox", IN, C, hidden, **params)


def _counted(model: ForgettingAttentionLSTM, x: torch.Tensor) -> tuple[int, int]:
    """Matrix-multiply FLOPs FlopCounterMode counts in a forward and in a backward pass."""
    with FlopCounterMode(display=False) as fwd:
        out = model(x).logits
    with FlopCounterMode(display=False) as bwd:
        out.square().mean().backward()
    return fwd.get_total_flops(), bwd.get_total_flops()


def test_registered_through_the_entry_point():
    assert "fox" in list_variants()
    assert get_variant("fox") is ForgettingAttentionLSTM
    assert VARIANTS.origin("fox") == "plugin package attnbench-fox"
    assert not [e for e in VARIANTS.plugin_errors if e.package == "attnbench-fox"]


@pytest.mark.parametrize("params", [{}, {"window": 3}, {"head_dim": 3}], ids=["full", "window3", "d3"])
def test_matches_reference_forward_and_backward(params):
    model = _model(**params).double()
    x = torch.randn(2, 9, IN, dtype=torch.float64)
    out = model(x).logits
    ref = fox_reference(model, x)
    torch.testing.assert_close(out, ref)
    parameters = list(model.parameters())
    grads = torch.autograd.grad(out.square().sum(), parameters)
    ref_grads = torch.autograd.grad(ref.square().sum(), parameters)
    for (name, _), got, want in zip(model.named_parameters(), grads, ref_grads):
        torch.testing.assert_close(got, want, msg=lambda m, name=name: f"d {name}: {m}")


@pytest.mark.parametrize("params", [{}, {"window": 4}, {"head_dim": 3}], ids=["full", "window4", "d3"])
@pytest.mark.parametrize(("b", "t"), [(2, 1), (2, 2), (3, 13)], ids=["B2-T1", "B2-T2", "B3-T13"])
def test_analytic_flops_are_the_counted_flops(params, b, t):
    model = _model(**params)
    counted = _counted(model, torch.randn(b, t, IN))
    analytic = ForgettingAttentionLSTM.analytic_flops(Shape(b, t, IN, C, 8), **params)
    assert (analytic.forward, analytic.backward) == counted


def test_analytic_flops_unknown_with_pruning():
    assert ForgettingAttentionLSTM.analytic_flops(Shape(2, 10, IN, C, 8), acp_log_eps=-10) is None


@pytest.mark.parametrize("forget_bias", [-4.0, 0.0])
def test_pruned_flops_are_those_of_the_rows_read(forget_bias):
    model = _model(forget_bias=forget_bias, acp_log_eps=-5.0, window=40)
    x = torch.randn(3, 60, IN)
    with torch.no_grad():
        diag = model(x, diagnostics=True).diagnostics
    keys_read = [w.shape[1] for w in diag.weights if w is not None]
    assert sum(keys_read) < sum(ForgettingAttentionLSTM.keys_read(60, 40)), "nothing was pruned"
    expected = ForgettingAttentionLSTM.flops(Shape(3, 60, IN, C, 8), keys_read)
    assert (expected.forward, expected.backward) == _counted(model, x)


def test_acp_parameter_is_validated():
    for bad in (0.0, 1.0, "yes"):
        with pytest.raises(ParameterError, match="acp_log_eps"):
            _model(acp_log_eps=bad)
    assert _model(acp_log_eps="none").config["acp_log_eps"] is None


def test_negligible_tolerance_prunes_nothing():
    x = torch.randn(2, 30, IN)
    torch.testing.assert_close(_model(acp_log_eps=-1e4)(x).logits, _model()(x).logits, rtol=0, atol=0)


@pytest.mark.parametrize("log_eps", [-2.0, -10.0])
@pytest.mark.parametrize("forget_bias", [-3.0, 0.0, 3.0])
def test_every_pruned_step_stays_within_the_bound(monkeypatch, log_eps, forget_bias):
    """Each read the model makes, compared with the unpruned read over the same rows and query."""
    gaps, skipped = [], []

    def checked(bank, query, *, start, stop):
        summary, weights = forgetting_read(bank, query, start=start, stop=stop)
        full, full_weights = forgetting_read(bank, query, start=0, stop=stop)
        assert float(full_weights[:, :start].sum(1).max()) <= torch.tensor(log_eps).exp()  # pruned mass <= eps
        bound = pruned_output_bound(bank.values[:, :stop], log_eps)
        gaps.append(float(((summary - full).abs() - bound).max()))
        skipped.append(start)
        return summary, weights

    monkeypatch.setattr(fox_module, "forgetting_read", checked)
    model = _model(hidden=16, forget_bias=forget_bias, acp_log_eps=log_eps)
    with torch.no_grad():
        model(torch.randn(4, 80, IN))
    assert max(gaps) <= 1e-6  # float32 rounding
    if forget_bias <= 0.0:
        assert sum(skipped) > 0, "nothing was pruned: the case tests nothing"


def test_pruned_model_stays_close_and_trains():
    x = torch.randn(3, 60, IN)
    model = _model(forget_bias=-2.0, acp_log_eps=-10.0)
    full = _model(forget_bias=-2.0)
    out = model(x).logits
    torch.testing.assert_close(out, full(x).logits, rtol=0, atol=1e-3)
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("log_eps", [None, -10.0])
def test_bfloat16_tracks_float32(log_eps):
    """The gate sums and the softmax run in float32 inside the read, so a bfloat16 model stays close."""
    model = _model(hidden=16, forget_bias=-1.0, acp_log_eps=log_eps)
    x = torch.randn(3, 200, IN)
    want = model(x).logits
    low = model.to(torch.bfloat16)
    got = low(x.to(torch.bfloat16)).logits
    torch.testing.assert_close(got.float(), want, rtol=0, atol=0.02)
    got.float().square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in low.parameters())


def test_counted_flops_fall_as_the_forget_gates_close():
    x = torch.randn(4, 120, IN)
    full = sum(_counted(_model(forget_bias=-4.0), x))
    pruned = [sum(_counted(_model(forget_bias=fb, acp_log_eps=-10.0), x)) for fb in (3.0, 0.0, -4.0)]
    assert full >= pruned[0] > pruned[1] > pruned[2]
    # with the gates shut the reads are a handful of rows: what is left is mostly the LSTM cell
    attention = full - ForgettingAttentionLSTM.flops(Shape(4, 120, IN, C, 8), []).total
    assert full - pruned[2] > 0.9 * attention


def test_pruned_forward_is_faster_when_the_gates_close():
    """Interleaved runs, one thread (the CPU is shared), medians, a clear margin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randn(64, 384, IN)
        full = _model(hidden=32, forget_bias=-4.0)
        pruned = _model(hidden=32, forget_bias=-4.0, acp_log_eps=-10.0)
        times: dict[str, list[float]] = {"full": [], "pruned": []}
        with torch.no_grad():
            for _ in range(4):
                for label, model in (("full", full), ("pruned", pruned)):
                    start = time.perf_counter()
                    model(x)
                    times[label].append(time.perf_counter() - start)
        ratio = statistics.median(times["pruned"][1:]) / statistics.median(times["full"][1:])
    finally:
        torch.set_num_threads(threads)
    assert ratio < 0.6, f"pruned/full forward time {ratio:.2f}; samples {times}"
