"""The built-ins on CUDA (skipped without a GPU): the whole-sequence node there equals the CPU run and the
per-step graph, and its time loop never synchronises with the host."""

from __future__ import annotations

import pytest
import torch

from attnbench.variants import build_variant
from tests.variants.reference import loss_of

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CASES = [
    ("dense", {}),
    ("rsm", {"nu": 3, "rho": 2}),
    ("sab", {"k_att": 2, "k_top": 3, "k_trunc": 4}),
    ("sab", {"k_att": 2, "k_top": 2, "max_mem": 4}),
    ("lstm", {"k_trunc": 4}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_cuda_matches_cpu_and_per_step_graph(name, params):
    torch.manual_seed(0)
    model = build_variant(name, 5, 4, 8, **params).double()
    x = torch.randn(3, 23, 5, dtype=torch.float64)
    target = torch.randint(0, 4, (3, 23))
    cpu = model(x).logits
    cpu_grads = torch.autograd.grad(loss_of(cpu, target), list(model.parameters()))
    model.cuda()
    for diagnostics in (False, True):
        out = model(x.cuda(), diagnostics=diagnostics).logits
        grads = torch.autograd.grad(loss_of(out, target.cuda()), list(model.parameters()))
        torch.testing.assert_close(out.cpu(), cpu, rtol=1e-9, atol=1e-9)
        for got, want in zip(grads, cpu_grads):
            torch.testing.assert_close(got.cpu(), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "params"), CASES[:3])
def test_no_host_synchronisation_in_the_time_loop(name, params):
    """A training step of the default path raises nothing under torch's 'error' sync debug mode."""
    torch.manual_seed(0)
    model = build_variant(name, 5, 4, 8, **params).cuda()
    x = torch.randn(3, 23, 5, device="cuda")
    target = torch.randint(0, 4, (3, 23), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        logits = model(x).logits
        torch.nn.functional.cross_entropy(logits.reshape(-1, 4), target.reshape(-1)).backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
