"""group_forward of the built-ins: a replicate group equals its replicates run alone, forward and backward."""

from __future__ import annotations

import math

import pytest
import torch

from attnbench.variants import build_variant

INPUTS, CLASSES = 5, 4

# configurations whose memory fills and evicts at the lengths used here
CONFIGS = {
    "dense": ("dense", {}),
    "rsm": ("rsm", {"nu": 2, "rho": 3}),
    "sab": ("sab", {"k_trunc": 3, "k_att": 2, "k_top": 2}),
    "sab-window": ("sab", {"k_trunc": 4, "k_att": 3, "k_top": 1, "max_mem": 2, "mlp_hidden": 6}),
    "lstm": ("lstm", {}),
    "lstm-trunc": ("lstm", {"k_trunc": 5}),
    "lstm-cell": ("lstm", {"k_trunc": 4, "fused": False}),
}


def _models(name: str, seeds, hidden: int = 8, dtype=torch.float64):
    variant, params = CONFIGS[name]
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_variant(variant, INPUTS, CLASSES, hidden, **params).to(dtype))
    return models


def _stack(models):
    return {
        name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_()
        for name, _ in models[0].named_parameters()
    }


def _loss(logits, replicate: int | None = None):
    """A loss that weights every output differently: replicate ``replicate``'s for its (B, T, C) logits, or
    the sum of every replicate's over (G, B, T, C) logits."""
    if replicate is None:
        return sum(_loss(part, r) for r, part in enumerate(logits))
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(7 + replicate), dtype=logits.dtype)
    return (logits * weights).mean() + logits.square().mean()  # a mean, as task losses are


def _check(name, g, dtype, tol, t_len=15, batch=3, hidden=8):
    models = _models(name, range(g), hidden, dtype)
    stacked = _stack(models)
    x = torch.randn(g, batch, t_len, INPUTS, dtype=dtype, generator=torch.Generator().manual_seed(1))
    logits = models[0].group_forward(stacked, x)
    assert logits.shape == (g, batch, t_len, CLASSES)
    _loss(logits).backward()
    for r, model in enumerate(models):
        alone = model(x[r]).logits
        torch.testing.assert_close(logits[r], alone, rtol=tol, atol=tol)
        _loss(alone, r).backward()
        for pname, param in model.named_parameters():
            torch.testing.assert_close(
                stacked[pname].grad[r], param.grad, rtol=tol, atol=tol, msg=lambda m, n=pname, r=r: f"{n}[{r}]: {m}"
            )


@pytest.mark.parametrize("name", list(CONFIGS), ids=[f"{n}-G3" for n in CONFIGS])
def test_group_of_three_equals_each_alone_float64(name):
    _check(name, 3, torch.float64, 1e-10)


@pytest.mark.parametrize("name", list(CONFIGS), ids=[f"{n}-G3-f32" for n in CONFIGS])
def test_group_of_three_equals_each_alone_float32(name):
    _check(name, 3, torch.float32, 1e-5)


@pytest.mark.parametrize("name", list(CONFIGS), ids=[f"{n}-G1" for n in CONFIGS])
def test_group_of_one_equals_forward(name):
    _check(name, 1, torch.float64, 1e-10, t_len=12, batch=4, hidden=16)


@pytest.mark.parametrize("name", list(CONFIGS), ids=[f"{n}-G3-nan" for n in CONFIGS])
def test_replicates_do_not_interact(name):
    """A NaN in replicate 1's weights leaves replicates 0 and 2 finite and unchanged."""
    models = _models(name, range(3))
    x = torch.randn(3, 3, 14, INPUTS, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    results = []
    for poison in (False, True):
        stacked = _stack(models)
        if poison:
            with torch.no_grad():
                for param in stacked.values():
                    param[1].fill_(math.nan)
        logits = models[0].group_forward(stacked, x)
        _loss(logits).backward()
        results.append((logits.detach(), {n: p.grad for n, p in stacked.items()}))
    (clean, clean_grads), (poisoned, poisoned_grads) = results
    assert poisoned[1].isnan().any()
    for r in (0, 2):
        assert torch.isfinite(poisoned[r]).all()
        torch.testing.assert_close(poisoned[r], clean[r], rtol=0, atol=0)
        for pname, grad in poisoned_grads.items():
            assert torch.isfinite(grad[r]).all(), pname
            torch.testing.assert_close(grad[r], clean_grads[pname][r], rtol=0, atol=0)
