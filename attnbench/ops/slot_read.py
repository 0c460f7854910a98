"""Attention over a fixed number of slots that each hold one :class:`StateBank` row.

RSM attends at every step over ``nu + rho`` past states that change by one state per step. Gathering
those rows from the bank at every step (and scattering their gradients back) costs random memory
traffic of O(B K F) per step in both passes. :class:`SlotMemory` keeps a compact ``(B, K, F)`` copy
of the slot contents instead, changed by one row per example per :meth:`SlotMemory.put`. Reads
score it in place. Backward walks the history of puts in reverse: before the read of step t it
restores the contents that read saw, and keeps the gradients per slot, handing a slot's gradient to
the bank only when its row leaves the slot (going backward, when the put that brought it in is
undone). Per step that is O(B F) of random traffic; the O(B K F) work stays in cache.

Weights are ``softmax`` over the valid slots of ``v . sigmoid(q + k_i)`` (the sigmoid form of
:mod:`attnbench.ops.scores`); the plain version is :func:`attnbench.ops.naive.additive_read_naive`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops.scores import softmax_attend, softmax_attend_backward
from attnbench.ops.state_bank import BankStorage, StateBank, _graph_task_id


class SlotMemory:
    """``slots`` per example, each empty or holding one row of a :class:`StateBank`.

    Attributes:
        rows: (B, K) long, the bank row in each slot, -1 where empty.
        values, keys: (B, K, value_dim) and (B, K, key_dim), the slot contents (forward's copy).
    """

    def __init__(self, bank: StateBank, slots: int) -> None:
        # the storage only: autograd nodes keep this object, and the bank holds the latest token
        self.bank: BankStorage = bank.storage
        self.slots = slots
        b, dev = bank.batch, bank.values.device
        self.rows = torch.full((b, slots), -1, dtype=torch.long, device=dev)
        self.values = bank.values.new_zeros(b, slots, bank.value_dim)
        self.keys = bank.keys.new_zeros(b, slots, bank.key_dim)
        self.offsets = torch.arange(0, b * slots, slots, device=dev).unsqueeze(1)  # (B, 1)
        self._history: list[tuple[Tensor, Tensor, int]] = []  # per put: flat slot (B,), old row (B, 1), row
        self._bwd_task: int | None = None

    @property
    def puts(self) -> int:
        """How many :meth:`put` calls so far."""
        return len(self._history)

    def valid(self) -> Tensor:
        """(B, K) bool mask of the non-empty slots."""
        return self.rows >= 0

    def put(self, target: Tensor, row: int) -> None:
        """Slot ``target`` (B, 1) of each example now holds bank row ``row`` (already appended)."""
        flat = (target + self.offsets).view(-1)  # (B,)
        self._history.append((flat, self.rows.gather(1, target), row))
        self.rows.scatter_(1, target, row)
        for content, stored in ((self.values, self.bank.values), (self.keys, self.bank.keys)):
            content.view(-1, content.shape[-1]).index_copy_(0, flat, stored[:, row])

    # ----- backward: replay the history in reverse -------------------------------------------------

    def _backward_state(self, puts: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Values, keys and their slot gradients as they were after ``puts`` puts, in this backward pass."""
        task = _graph_task_id()
        if self._bwd_task != task:  # a new backward pass starts from the final forward state
            self._bwd_task = task
            self._bwd = [self.values.clone(), self.keys.clone()]
            self._bwd_grad = [torch.zeros_like(self.values), torch.zeros_like(self.keys)]
            self._bwd_puts = len(self._history)
        while self._bwd_puts > puts:
            self._bwd_puts -= 1
            self._undo(self._bwd_puts)
        return (*self._bwd, *self._bwd_grad)  # type: ignore[return-value]

    def _undo(self, i: int) -> None:
        """Undo put ``i``: its row's gradient goes to the bank and the slot gets its old row back."""
        flat, old_row, row = self._history[i]
        restored = self.bank.rows(self.bank.flat(old_row.clamp(min=0)), old_row.shape)  # empty: any row, masked
        for content, grad, acc, new in zip(self._bwd, self._bwd_grad, self.bank.grad_buffer(), restored):
            grad_2d = grad.view(-1, grad.shape[-1])
            acc[:, row] += grad_2d.index_select(0, flat)
            grad_2d.index_fill_(0, flat, 0.0)
            content.view(-1, content.shape[-1]).index_copy_(0, flat, new.view(-1, new.shape[-1]))


class _SlotRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, v, token, memory, valid):  # noqa: ANN001, ANN205
        summary, weights = softmax_attend(memory.values, memory.keys, query, v, valid, memory.bank.scratch)
        ctx.memory, ctx.puts = memory, memory.puts
        ctx.save_for_backward(query, v, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, v, weights = ctx.saved_tensors
        memory: SlotMemory = ctx.memory
        values, keys, grad_values, grad_keys = memory._backward_state(ctx.puts)
        d_query, d_v = softmax_attend_backward(
            values, keys, query, v, weights, d_summary, memory.bank.scratch, grad_values, grad_keys
        )
        # no earlier read sees the newest row: hand its gradient to the bank before its append's backward
        memory._backward_state(ctx.puts - 1)
        return d_query, d_v, None, None, None


def slot_read(
    bank: StateBank, memory: SlotMemory, query: Tensor, v: Tensor, valid: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Softmax attention ``softmax_i(v . sigmoid(query + key_i))`` over the non-empty slots.

    Args:
        bank: the bank the slots point into.
        memory: the slots; at least one must be non-empty in every example.
        query: (B, D) query in sigmoid form.
        v: (D,) output vector in sigmoid form.
        valid: :meth:`SlotMemory.valid`, or None when the caller knows every slot is full (saves a
            mask per step without a device synchronisation to find out).

    Returns:
        summary (B, value_dim) and the weights (B, K) (0 on empty slots), which carry no gradient.
    """
    return _SlotRead.apply(query, v, bank.token, memory, valid)
