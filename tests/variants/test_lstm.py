"""lstm: truncation cuts gradient exactly at window boundaries."""

from __future__ import annotations

import pytest
import torch

from attnbench.params import ParameterError
from attnbench.variants import build_variant


@pytest.mark.parametrize("fused", [True, False])
def test_truncation_window(fused):
    torch.manual_seed(0)
    model = build_variant("lstm", 3, 2, 6, k_trunc=5, fused=fused)
    x = torch.randn(2, 17, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).logits[:, 12].sum(), x)
    assert torch.all(grad[:, :10] == 0)  # windows [0,5) [5,10) [10,15): step 12 sees 10..12
    assert torch.all(grad[:, 10:13].abs().sum((0, 2)) > 0)
    assert torch.all(grad[:, 13:] == 0)


def test_full_bptt_reaches_the_first_step():
    model = build_variant("lstm", 3, 2, 6)
    x = torch.randn(2, 40, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).logits[:, -1].sum(), x)
    assert grad[:, 0].abs().sum() > 0


def test_bad_truncation():
    with pytest.raises(ParameterError, match=r"k_trunc=0 .*>= 1, or none \(full BPTT\)"):
        build_variant("lstm", 3, 2, 6, k_trunc=0)
