"""The forgetting-attention read against its plain reference, and the ACP window and bound."""

from __future__ import annotations

import math

import pytest
import torch
from attnbench.ops import StateBank

from attnbench_fox import acp_start, forgetting_read, pruned_output_bound
from attnbench_fox.naive import forgetting_attention_naive

B, N, H, D = 3, 9, 5, 4
M = 32  # rows of the pruning cases


def _rows(seed: int, gate_logit: float = 0.0, key_scale: float = 1.0, n: int = N, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(B, n, H, generator=gen, dtype=dtype).requires_grad_()
    keys = (key_scale * torch.randn(B, n, D, generator=gen, dtype=dtype)).requires_grad_()
    gates = (gate_logit + torch.randn(B, n, generator=gen, dtype=dtype)).requires_grad_()
    query = torch.randn(B, D, generator=gen, dtype=dtype).requires_grad_()
    return values, keys, gates, query


def _bank(values, keys, gates) -> StateBank:
    n = values.shape[1]
    bank = StateBank(B, n, H, D + 1, like=values)
    log_f = torch.nn.functional.logsigmoid(gates)
    for j in range(n):
        bank.append(values[:, j], torch.cat([keys[:, j], log_f[:, j : j + 1]], dim=1))
    return bank


def _naive(values, keys, gates, query, start, stop):
    log_f = torch.nn.functional.logsigmoid(gates)
    out = [
        forgetting_attention_naive(query[b], keys[b, start:stop], values[b, start:stop], log_f[b, start:stop])
        for b in range(B)
    ]
    return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])


@pytest.mark.parametrize(("start", "stop"), [(0, N), (0, 1), (3, 7), (N - 1, N)])
def test_read_matches_reference_forward_and_backward(start, stop):
    rows = _rows(0)
    probe = torch.randn(B, H, dtype=torch.float64)
    summary, weights = forgetting_read(_bank(*rows[:3]), rows[3], start=start, stop=stop)
    grads = torch.autograd.grad((summary * probe).sum(), rows)
    ref_summary, ref_weights = _naive(*rows, start, stop)
    ref_grads = torch.autograd.grad((ref_summary * probe).sum(), rows, materialize_grads=True)  # 1 row: no gate
    torch.testing.assert_close(summary, ref_summary)
    torch.testing.assert_close(weights, ref_weights)
    for name, got, want in zip(("values", "keys", "gates", "query"), grads, ref_grads):
        torch.testing.assert_close(got, want, msg=lambda m, name=name: f"d {name}: {m}")


def test_read_rejects_an_empty_or_unwritten_range():
    rows = _rows(0)
    bank = _bank(*rows[:3])
    for start, stop in ((2, 2), (0, N + 1)):
        with pytest.raises(ValueError, match="rows"):
            forgetting_read(bank, rows[3], start=start, stop=stop)


def _window_case(seed: int, gate_logit: float, key_scale: float, log_eps: float, lo: int = 0):
    """A bank of M rows, the query, and what ACP makes of them."""
    values, keys, gates, query = (r.detach() for r in _rows(seed, gate_logit, key_scale, n=M))
    bank = _bank(values, keys, gates)
    log_decay = torch.nn.functional.logsigmoid(gates).cumsum(1)  # L_j
    neg = -log_decay  # every row written
    key_norm = torch.linalg.vector_norm(keys, dim=2).amax(1)
    q_norm = torch.linalg.vector_norm(query, dim=1)
    start = acp_start(neg, q_norm, key_norm, lo=lo, stop=M, log_eps=log_eps)
    delta = log_eps - 2 * q_norm * key_norm - math.log(M - lo)  # (B,)
    bias = log_decay[:, M - 1 :] - log_decay  # D_j = L_{M-1} - L_j, (B, M)
    return bank, query, start, delta, bias


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("gate_logit", [-4.0, -1.0, 2.0])
def test_acp_window_starts_at_the_shortest_pruned_prefix(seed, gate_logit):
    _, _, start, delta, bias = _window_case(seed, gate_logit, key_scale=0.3, log_eps=-3.0)
    prunable = bias < delta.unsqueeze(1)  # (B, M)
    assert not prunable[:, M - 1].any(), "the newest row has bias 0 and is never prunable"
    assert prunable[:, :start].all(), "a skipped row is not prunable for some example"
    assert not prunable[:, start].all(), "the window could start later for every example"


def test_acp_window_respects_a_hard_window():
    *_, start, _, _ = _window_case(0, -8.0, key_scale=0.1, log_eps=-1.0, lo=4)
    assert 4 <= start < M
    *_, start, _, _ = _window_case(0, 8.0, key_scale=0.1, log_eps=-1.0, lo=4)
    assert start == 4


@pytest.mark.parametrize("log_eps", [-1.0, -3.0, -10.0])
@pytest.mark.parametrize("gate_logit", [-3.0, -1.0, 0.5])
@pytest.mark.parametrize("key_scale", [0.2, 1.0, 3.0])
def test_pruned_mass_and_output_stay_within_eps(log_eps, gate_logit, key_scale):
    worst_mass, worst_gap, pruned_rows = 0.0, -math.inf, 0
    for seed in range(5):
        bank, query, start, _, _ = _window_case(seed, gate_logit, key_scale, log_eps)
        full, weights = forgetting_read(bank, query, start=0, stop=M)
        pruned, _ = forgetting_read(bank, query, start=start, stop=M)
        bound = pruned_output_bound(bank.values[:, :M], log_eps)
        worst_mass = max(worst_mass, float(weights[:, :start].sum(1).max()))
        worst_gap = max(worst_gap, float(((pruned - full).abs() - bound).max()))
        pruned_rows += start
    assert worst_mass <= math.exp(log_eps)
    assert worst_gap <= 1e-12
    if gate_logit <= -1.0 and key_scale <= 1.0:
        assert pruned_rows > 0, "nothing was pruned: the case tests nothing"


def test_the_bound_check_catches_pruning_that_ignores_the_score_bound():
    """Test of the test: drop the 2U and log N terms (prune on the bias alone) and the bound breaks."""
    log_eps, broken = -3.0, 0
    for seed in range(5):
        bank, query, _, _, bias = _window_case(seed, gate_logit=-1.0, key_scale=3.0, log_eps=log_eps)
        start = int((bias < log_eps).sum(1).min())  # the prefix pruned by a bias-only rule
        full, weights = forgetting_read(bank, query, start=0, stop=M)
        pruned, _ = forgetting_read(bank, query, start=start, stop=M)
        gap = (pruned - full).abs() - pruned_output_bound(bank.values[:, :M], log_eps)
        broken += int(gap.max() > 0 or weights[:, :start].sum(1).max() > math.exp(log_eps))
    assert broken > 0
