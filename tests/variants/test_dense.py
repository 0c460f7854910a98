"""dense: attends over every earlier state."""

from __future__ import annotations

import torch

from attnbench.variants import build_variant


def test_attends_over_all_past_states():
    torch.manual_seed(0)
    d = build_variant("dense", 5, 4, 8)(torch.randn(2, 21, 5), diagnostics=True).diagnostics
    assert d.weights[0] is None
    for t in range(1, 21):
        assert torch.equal(d.attended[t], torch.arange(t).expand(2, -1))
        assert torch.all(d.weights[t] > 0)
        torch.testing.assert_close(d.weights[t].sum(1), torch.ones(2), rtol=1e-5, atol=1e-5)
    assert torch.equal(d.occupancy[0], torch.arange(21))
