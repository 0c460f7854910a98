"""The fast reads against the plain autograd references (attnbench.ops.naive), forward and backward."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from attnbench.ops import SlotMemory, StateBank, additive_read, slot_read, sparse_read, to_sigmoid_form
from attnbench.ops.naive import additive_read_naive, sparse_read_naive

B, H, D = 3, 6, 5
DT = torch.float64


def _fill(n: int, seed: int = 0) -> tuple[StateBank, torch.Tensor, torch.Tensor]:
    """A bank of n rows appended from leaf tensors (values, raw keys) that require grad."""
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(n, B, H, dtype=DT, generator=g, requires_grad=True)
    keys = torch.randn(n, B, D, dtype=DT, generator=g, requires_grad=True)
    bank = StateBank(B, n, H, D, like=values)
    for i in range(n):
        bank.append(values[i], to_sigmoid_form(keys[i]))
    return bank, values, keys


def _grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    weight = torch.linspace(-1, 1, out.numel(), dtype=DT).view_as(out)
    return list(torch.autograd.grad((out * weight).sum(), inputs))


@pytest.mark.parametrize(("start", "stop"), [(0, 7), (2, 7), (3, 4)])
def test_additive_read_matches_naive(start, stop):
    bank, values, keys = _fill(7)
    q = torch.randn(B, D, dtype=DT, requires_grad=True)
    v = torch.randn(D, dtype=DT, requires_grad=True)
    fast, w_fast = additive_read(bank, to_sigmoid_form(q), to_sigmoid_form(v), start=start, stop=stop)
    ref, w_ref = additive_read_naive(q, keys[start:stop].transpose(0, 1), values[start:stop].transpose(0, 1), v)
    torch.testing.assert_close(fast, ref)
    torch.testing.assert_close(w_fast, w_ref)
    inputs = [q, v, values, keys]
    for a, b in zip(_grads(fast, inputs), _grads(ref, inputs)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("k", "start"), [(1, 0), (3, 0), (3, 2), (8, 0), (6, 3)])
def test_sparse_read_matches_naive(k, start):
    bank, values, keys = _fill(9, seed=k)
    q = torch.randn(B, D, dtype=DT, requires_grad=True)
    w = torch.randn(D, dtype=DT, requires_grad=True)
    fast, w_fast, rows = sparse_read(bank, to_sigmoid_form(q), to_sigmoid_form(w), k, start=start)
    ref, w_ref = sparse_read_naive(q, keys[start:].transpose(0, 1), values[start:].transpose(0, 1), w, k)
    torch.testing.assert_close(fast, ref)
    full = torch.zeros_like(w_ref)
    idx = torch.arange(start, 9).expand(B, -1) if rows is None else rows
    full.scatter_(1, idx - start, w_fast)
    torch.testing.assert_close(full, w_ref)
    assert torch.all((w_ref > 0).sum(1) == min(k, 9 - start))
    inputs = [q, w, values, keys]
    for a, b in zip(_grads(fast, inputs), _grads(ref, inputs)):
        torch.testing.assert_close(a, b)


def test_slot_read_matches_naive_through_a_history_of_puts():
    """Random slot overwrites; the gradients of every row must come back through the history replay."""
    n, slots = 12, 4
    g = torch.Generator().manual_seed(3)
    values = torch.randn(n, B, H, dtype=DT, generator=g, requires_grad=True)
    keys = torch.randn(n, B, D, dtype=DT, generator=g, requires_grad=True)
    q = torch.randn(n, B, D, dtype=DT, generator=g, requires_grad=True)
    v = torch.randn(D, dtype=DT, requires_grad=True)
    bank = StateBank(B, n, H, D, like=values)
    memory = SlotMemory(bank, slots)
    held = [[-1] * slots for _ in range(B)]
    fast_out, ref_out = [], []
    for t in range(n):
        bank.append(values[t], to_sigmoid_form(keys[t]))
        target = torch.randint(0, slots, (B, 1), generator=g)
        memory.put(target, t)
        for b in range(B):
            held[b][int(target[b])] = t
        summary, _ = slot_read(bank, memory, to_sigmoid_form(q[t]), to_sigmoid_form(v), memory.valid())
        fast_out.append(summary)
        refs = []
        for b in range(B):
            rows = [r for r in held[b] if r >= 0]
            ref, _ = additive_read_naive(q[t, b : b + 1], keys[rows, b].unsqueeze(0), values[rows, b].unsqueeze(0), v)
            refs.append(ref)
        ref_out.append(torch.cat(refs))
    fast, ref = torch.stack(fast_out), torch.stack(ref_out)
    torch.testing.assert_close(fast, ref)
    inputs = [q, v, values, keys]
    for a, b in zip(_grads(fast, inputs), _grads(ref, inputs)):
        torch.testing.assert_close(a, b)


def test_projected_append_matches_explicit_key():
    torch.manual_seed(0)
    values = torch.randn(5, B, H, dtype=DT, requires_grad=True)
    w_key = torch.randn(D, H, dtype=DT, requires_grad=True)
    q = torch.randn(B, D, dtype=DT, requires_grad=True)
    v = torch.randn(D, dtype=DT)
    banks = [StateBank(B, 5, H, D, like=values, key_weight=w_key), StateBank(B, 5, H, D, like=values)]
    for i in range(5):
        banks[0].append(values[i])
        banks[1].append(values[i], values[i] @ w_key.t())
    outs = [additive_read(bank, q, v)[0] for bank in banks]
    torch.testing.assert_close(outs[0], outs[1])
    inputs = [values, w_key, q]
    for a, b in zip(_grads(outs[0], inputs), _grads(outs[1], inputs)):
        torch.testing.assert_close(a, b)


def test_graph_and_bank_are_freed_after_use():
    """Autograd nodes keep the bank's storage, never the bank itself: no reference cycle, no leak."""
    gc.collect()
    gc.disable()  # must be freed by reference counting alone: a cycle would survive until a collection
    try:
        bank, _, _ = _fill(5)
        q = torch.randn(B, D, dtype=DT, requires_grad=True)
        out, _ = additive_read(bank, q, torch.ones(D, dtype=DT))
        storage = weakref.ref(bank.storage)
        del bank, out
        assert storage() is None
    finally:
        gc.enable()
