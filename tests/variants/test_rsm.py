"""RSM: bounded attention set, the screening rule against the reference, parameter checks."""

from __future__ import annotations

import pytest
import torch

from attnbench.params import ParameterError
from attnbench.variants import build_variant
from tests.variants.reference import rsm_reference


@pytest.mark.parametrize(("nu", "rho"), [(3, 2), (2, 0), (1, 4), (5, 5)])
def test_never_attends_over_more_than_nu_plus_rho(nu, rho):
    torch.manual_seed(0)
    d = build_variant("rsm", 5, 4, 8, nu=nu, rho=rho)(torch.randn(3, 40, 5), diagnostics=True).diagnostics
    assert int(d.occupancy.max()) == nu + rho
    for t, w in enumerate(d.weights[1:], start=1):
        assert w.shape[1] == nu + rho
        assert torch.all((w > 0).sum(1) <= nu + rho)
        assert torch.all((w > 0).sum(1) == d.occupancy[:, t])  # exactly the held states get weight
        torch.testing.assert_close(w.sum(1), torch.ones(3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("nu", "rho", "seed"), [(3, 2, 0), (2, 3, 1), (4, 1, 2), (1, 6, 3)])
def test_screening_follows_the_rule(nu, rho, seed):
    """The set attended at every step is the one the literal buffer/relevant-set rule keeps."""
    torch.manual_seed(seed)
    model = build_variant("rsm", 5, 4, 8, nu=nu, rho=rho).double()
    x = torch.randn(4, 45, 5, dtype=torch.float64)
    d = model(x, diagnostics=True).diagnostics
    trace: list = []
    rsm_reference(model, x, trace=trace)
    for b, steps in enumerate(trace):
        for t, expected in enumerate(steps, start=1):
            got = sorted(r for r in d.attended[t][b].tolist() if r >= 0)
            assert got == expected, f"example {b}, step {t}"
    # the relevant set really screens: some state older than the buffer survives past its eviction time
    survivors = [r for r in d.attended[-1][0].tolist() if 0 <= r < 44 - nu]
    assert len(survivors) == rho


@pytest.mark.parametrize(("param", "value", "allowed"), [("nu", 0, ">= 1"), ("rho", -1, ">= 0"), ("nu", "x", ">= 1")])
def test_out_of_range_parameters_are_named(param, value, allowed):
    with pytest.raises(ParameterError) as info:
        build_variant("rsm", 5, 4, 8, **{param: value})
    message = str(info.value)
    assert param in message and repr(value) in message and allowed in message


def test_with_room_for_every_state_rsm_is_dense():
    """nu + rho >= T: nothing is ever screened out, so rsm must compute exactly what dense does."""
    torch.manual_seed(0)
    x = torch.randn(3, 12, 5)
    dense = build_variant("dense", 5, 4, 8)
    rsm = build_variant("rsm", 5, 4, 8, nu=4, rho=8)
    rsm.load_state_dict(dense.state_dict())
    out_dense, out_rsm = dense(x).logits, rsm(x).logits
    torch.testing.assert_close(out_rsm, out_dense, rtol=1e-5, atol=1e-6)
    out_dense.square().sum().backward()
    out_rsm.square().sum().backward()
    for (name, p), q in zip(dense.named_parameters(), rsm.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=name)
