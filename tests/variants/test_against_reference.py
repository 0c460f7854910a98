"""Each built-in's fast path against the plain per-example reference: outputs and gradients to 1e-5."""

from __future__ import annotations

import pytest
import torch

from attnbench.variants import build_variant
from tests.variants.reference import REFERENCES, loss_of

CASES = [
    ("lstm", {}),
    ("lstm", {"k_trunc": 4}),
    ("lstm", {"fused": False, "k_trunc": 4}),
    ("dense", {}),
    ("sab", {"k_att": 2, "k_top": 3, "k_trunc": 4}),
    ("sab", {"k_att": 1, "k_top": 1, "k_trunc": 3}),
    ("sab", {"k_att": 2, "k_top": 2, "max_mem": 4}),
    ("sab", {"k_att": 3, "k_top": 20}),  # never more memories than k_top: softmax over all
    ("sab", {"k_att": 2, "k_top": 3, "mlp_hidden": 5}),
    ("rsm", {"nu": 3, "rho": 2}),
    ("rsm", {"nu": 2, "rho": 0}),
    ("rsm", {"nu": 1, "rho": 5}),
    ("rsm", {"nu": 4, "rho": 40}),  # relevant set never fills
]


def _id(case: tuple[str, dict]) -> str:
    name, params = case
    return "-".join([name, *(f"{k}={v}" for k, v in sorted(params.items()))])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_outputs_and_gradients_match_reference(case, dtype):
    name, params = case
    torch.manual_seed(1)
    model = build_variant(name, 5, 4, 8, **params).to(dtype)
    x = torch.randn(3, 29, 5, dtype=dtype, requires_grad=True)
    target = torch.randint(0, 4, (3, 29))
    inputs = [x, *model.parameters()]

    fast = model(x).logits
    fast_grads = torch.autograd.grad(loss_of(fast, target), inputs)
    ref = REFERENCES[name](model, x)
    ref_grads = torch.autograd.grad(loss_of(ref, target), inputs)

    # float64 is the definitive check (far inside 1e-5). In float32 the fast path's sigmoid form and the
    # reference's tanh round differently, and SAB's threshold subtraction amplifies that near ties.
    tol, grad_tol = (1e-5, 5e-5) if dtype == torch.float32 else (1e-10, 1e-10)
    torch.testing.assert_close(fast, ref, rtol=tol, atol=tol)
    for got, want, label in zip(fast_grads, ref_grads, ["x", *(n for n, _ in model.named_parameters())]):
        torch.testing.assert_close(
            got, want, rtol=grad_tol, atol=grad_tol, msg=lambda m, lb=label: f"grad of {lb}: {m}"
        )


def test_fused_and_cell_lstm_agree():
    torch.manual_seed(0)
    fused = build_variant("lstm", 5, 4, 8)
    cell = build_variant("lstm", 5, 4, 8, fused=False)
    cell.load_state_dict(fused.state_dict())
    x = torch.randn(2, 17, 5)
    torch.testing.assert_close(fused(x).logits, cell(x).logits, rtol=1e-5, atol=1e-6)


def test_repeated_backward_gives_the_same_gradients():
    """The bank's gradient accumulator is per backward pass: a second pass must not see the first's sums."""
    for name in ("dense", "sab", "rsm"):
        torch.manual_seed(0)
        model = build_variant(name, 5, 4, 8, **({"k_att": 2, "k_top": 2} if name == "sab" else {}))
        loss = model(torch.randn(2, 19, 5)).logits.square().sum()
        first = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
        second = torch.autograd.grad(loss, list(model.parameters()))
        for a, b in zip(first, second):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_whole_sequence_node_matches_per_step_graph(case):
    """The default path (one autograd node per sequence) against the per-step graph that diagnostics use:
    outputs and every gradient, truncation included."""
    name, params = case
    torch.manual_seed(2)
    model = build_variant(name, 5, 4, 8, **params).double()
    x = torch.randn(3, 23, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 4, (3, 23))
    inputs = [x, *model.parameters()]
    fast = model(x).logits
    fast_grads = torch.autograd.grad(loss_of(fast, target), inputs)
    per_step = model(x, diagnostics=True).logits
    step_grads = torch.autograd.grad(loss_of(per_step, target), inputs)
    torch.testing.assert_close(fast, per_step, rtol=1e-10, atol=1e-10)
    for got, want in zip(fast_grads, step_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
