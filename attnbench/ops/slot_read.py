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
from attnbench.ops.state_bank import BankStorage, StateBank, graph_task_id


class SlotMemory:
    """``slots`` per example, each empty or holding one row of a :class:`StateBank`.

    Attributes:
        rows: (B, K) long, the bank row in each slot, -1 where empty.
        data: (B, K, F) the slot contents (forward's copy), whole bank rows; ``values`` and ``keys``
            are views of their two parts.
    """

    def __init__(self, bank: StateBank | BankStorage, slots: int) -> None:
        # the storage only: autograd nodes keep this object, and the bank holds the latest token
        self.bank: BankStorage = bank.storage if isinstance(bank, StateBank) else bank
        self.slots = slots
        b, dev = bank.batch, bank.values.device
        self.rows = torch.full((b, slots), -1, dtype=torch.long, device=dev)
        self.data = self.bank.data.new_zeros(b, slots, self.bank.data.shape[-1])
        self._data_2d = self.data.view(-1, self.data.shape[-1])
        self.values, self.keys = self._split(self.data)
        self.offsets = torch.arange(0, b * slots, slots, device=dev).unsqueeze(1)  # (B, 1)
        self._history: list[tuple[Tensor, Tensor, int]] = []  # per put: flat slot (B,), old row (B, 1), row
        self._bwd_task: int | None = None

    def _split(self, whole: Tensor) -> tuple[Tensor, Tensor]:
        split = self.bank.value_dim
        return whole[..., :split], whole[..., split:]

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
        self._data_2d.index_copy_(0, flat, self.bank.data.select(1, row))

    def attend(self, query: Tensor, v: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
        """Forward of :func:`slot_read` (no autograd): summary (B, value_dim) and weights (B, K)."""
        return softmax_attend(self.values, self.keys, query, v, valid, self.bank.scratch)

    def attend_backward(
        self, puts: int, query: Tensor, v: Tensor, weights: Tensor, d_summary: Tensor, grad_v: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Backward of the :meth:`attend` made after ``puts`` puts; returns d_query and d_v (added into
        ``grad_v`` when given). Reads must be differentiated newest first; afterwards the gradient of
        the newest row (put number ``puts - 1``) is complete in the bank's accumulator."""
        self._backward_state(puts)
        (values, keys), (grad_values, grad_keys) = self._bwd_split
        d_query, d_v = softmax_attend_backward(
            values, keys, query, v, weights, d_summary, self.bank.scratch, grad_values, grad_keys, grad_v
        )
        # no earlier read sees the newest row: hand its gradient to the bank
        self._backward_state(puts - 1)
        return d_query, d_v

    # ----- backward: replay the history in reverse -------------------------------------------------

    def _backward_state(self, puts: int) -> None:
        """Bring the backward copy of the contents, and their slot gradients, to what they were after
        ``puts`` puts, in this backward pass."""
        task = graph_task_id()
        if self._bwd_task != task:  # a new backward pass starts from the final forward state
            self._bwd_task = task
            bwd, grad = self.data.clone(), torch.zeros_like(self.data)
            self._bwd_2d, self._bwd_grad_2d = bwd.view(-1, bwd.shape[-1]), grad.view(-1, grad.shape[-1])
            self._bwd_split = (self._split(bwd), self._split(grad))
            self._bank_grad = self.bank.grad()
            self._bwd_puts = len(self._history)
        while self._bwd_puts > puts:
            self._bwd_puts -= 1
            self._undo(self._bwd_puts)

    def _undo(self, i: int) -> None:
        """Undo put ``i``: its row's gradient goes to the bank and the slot gets its old row back."""
        flat, old_row, row = self._history[i]
        restored = self.bank.data_2d.index_select(0, self.bank.flat(old_row.clamp(min=0)))  # empty: any row, masked
        if self.bank.zero_grad:
            self._bank_grad.select(1, row).add_(self._bwd_grad_2d.index_select(0, flat))
        else:  # the sole reader: the whole gradient of the row, once
            torch.index_select(self._bwd_grad_2d, 0, flat, out=self._bank_grad.select(1, row))
        self._bwd_grad_2d.index_fill_(0, flat, 0.0)
        self._bwd_2d.index_copy_(0, flat, restored)


class _SlotRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, v, token, memory, valid):  # noqa: ANN001, ANN205
        summary, weights = memory.attend(query, v, valid)
        ctx.memory, ctx.puts = memory, memory.puts
        ctx.save_for_backward(query, v, weights)
        ctx.mark_non_differentiable(weights)
        return summary, weights

    @staticmethod
    def backward(ctx, d_summary, _d_weights):  # noqa: ANN001, ANN205
        query, v, weights = ctx.saved_tensors
        d_query, d_v = ctx.memory.attend_backward(ctx.puts, query, v, weights, d_summary)
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
