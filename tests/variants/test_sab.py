"""SAB: sparsity, gradient through selected memories, memory cap, parameter checks."""

from __future__ import annotations

import pytest
import torch

from attnbench.params import ParameterError
from attnbench.variants import build_variant, get_variant


@pytest.mark.parametrize("k_top", [1, 3, 5])
def test_exactly_min_k_top_memories_nonzero(k_top):
    torch.manual_seed(k_top)
    model = build_variant("sab", 5, 4, 8, k_att=2, k_top=k_top, k_trunc=4)
    d = model(torch.randn(4, 31, 5), diagnostics=True).diagnostics
    for t, w in enumerate(d.weights):
        memories = int(d.occupancy[0, t])
        if memories == 0:
            assert w is None
            continue
        nonzero = (w > 0).sum(1)
        assert torch.all(nonzero == min(k_top, memories)), f"step {t}: {nonzero.tolist()} with {memories} memories"
        torch.testing.assert_close(w.sum(1), torch.ones(4), rtol=1e-5, atol=1e-5)


def test_late_loss_reaches_early_input_through_a_memory_but_not_in_truncated_lstm():
    torch.manual_seed(0)
    t_len, k_trunc = 30, 3  # the dependency spans 29 steps, the truncation window 3
    sab = build_variant("sab", 5, 4, 8, k_trunc=k_trunc, k_att=2, k_top=20)
    x = torch.randn(2, t_len, 5, requires_grad=True)
    out = sab(x, diagnostics=True)
    (grad,) = torch.autograd.grad(out.logits[:, -1].sum(), x)
    assert grad[:, 0].abs().sum() > 0  # x_0 -> h_0 -> h_1 = memory 0 -> attention at step 29
    last_attended, last_weights = out.diagnostics.attended[-1], out.diagnostics.weights[-1]
    assert torch.all(last_weights[last_attended == 1] > 0)  # memory of step 1 is selected at the last step

    for fused in (True, False):
        lstm = build_variant("lstm", 5, 4, 8, k_trunc=k_trunc, fused=fused)
        x = torch.randn(2, t_len, 5, requires_grad=True)
        (grad,) = torch.autograd.grad(lstm(x).logits[:, -1].sum(), x)
        assert torch.all(grad[:, : t_len - k_trunc] == 0)
        assert grad[:, -1].abs().sum() > 0


def test_memory_cap_keeps_newest_memories():
    torch.manual_seed(0)
    model = build_variant("sab", 5, 4, 8, k_att=2, k_top=2, max_mem=3)
    d = model(torch.randn(2, 25, 5), diagnostics=True).diagnostics
    assert int(d.occupancy.max()) == 3
    # at step 24 the memories are steps 1, 3, ..., 23; the newest three are 19, 21, 23
    assert set(d.attended[-1][d.weights[-1] > 0].tolist()) <= {19, 21, 23}


def test_skip_when_top_k_exceeds_memory_size():
    sab = get_variant("sab")
    reason = sab.skip(100, k_top=8, max_mem=4)
    assert reason is not None and "k_top=8" in reason and "max_mem=4" in reason
    assert sab.skip(100, k_top=4, max_mem=4) is None
    assert sab.skip(100, k_top=8) is None


@pytest.mark.parametrize(
    ("param", "value"),
    [("k_top", 0), ("k_att", 0), ("k_trunc", 0), ("max_mem", 0), ("k_top", -3), ("mlp_hidden", 0), ("k_top", 2.5)],
)
def test_out_of_range_parameters_are_named(param, value):
    with pytest.raises(ParameterError) as info:
        build_variant("sab", 5, 4, 8, **{param: value})
    message = str(info.value)
    assert param in message and repr(value) in message and ">= 1" in message
