"""rsm: the Relevancy Screening Mechanism (Kerg et al., NeurIPS 2020), LSTM form.

Attention at step t is over a short-term buffer of the last ``nu`` hidden states plus a relevant set of
at most ``rho`` older ones (not detached; empty slots masked), additive scores, dense softmax, in the
recurrence of :mod:`attnbench.variants.memory_lstm`. The relevancy of a state is the sum of the
(detached) attention weights it received while in the buffer. When it leaves the buffer it fills a
free slot of the relevant set, or replaces the lowest-scoring member if its own score is higher;
otherwise it is dropped. Cost per step is O((nu + rho) H), independent of t.

The set lives in ``nu + rho`` slots per example that point at bank rows (one row per time step). A
state leaving the buffer is promoted by relabelling its slot, never copied, and each step writes the
new state into exactly one slot: the free one, the evicted member's, or the leaving state's own. All
of this is vectorised over the batch (the released code loops over batch elements in Python).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from attnbench.ops.slot_read import SlotMemory
from attnbench.ops.state_bank import BankStorage
from attnbench.params import Param
from attnbench.variants.base import FlopCount, Shape
from attnbench.variants.memory_lstm import AttendedSet, MemoryLSTM
from attnbench.variants.registry import register_variant

INF = float("inf")


class ScreenedSet(AttendedSet):
    """The short-term buffer and the relevant set of one forward pass, in ``nu + rho`` slots."""

    def __init__(self, bank: BankStorage, nu: int, rho: int) -> None:
        super().__init__(bank)
        b, dev = bank.batch, bank.values.device
        self.nu = nu
        self.slots = SlotMemory(bank, nu + rho)
        # each row is put into a slot once, so the slots hand the bank its whole gradient once: no zeroing
        bank.zero_grad = False
        # priority: -inf empty, +inf buffer (never evicted), else the frozen relevancy of a relevant state
        self.prio = torch.full((b, self.slots.slots), -INF, dtype=bank.values.dtype, device=dev)
        self.relevancy = torch.zeros_like(self.prio)  # accumulated while in the buffer
        self.buffer = torch.zeros(b, nu, 1, dtype=torch.long, device=dev)  # slot of h_{t-nu+j}, ring
        self.ring = self.buffer.unbind(1)  # (B, 1) views

    def read(self, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        slots = self.slots
        # slots fill in order, one per step, until all nu + rho hold a state
        summary, weights = slots.attend(query, v, slots.valid() if t < slots.slots else None)
        self.relevancy += weights  # only buffer slots' sums are ever used
        return summary, weights

    def read_backward(
        self, t: int, query: Tensor, v: Tensor, weights: Tensor, d_summary: Tensor, grad_v: Tensor
    ) -> Tensor:
        # step t reads after the puts of rows 0 .. t - 1; the last of them, h_{t-1}'s, is undone on return
        return self.slots.attend_backward(t, query, v, weights, d_summary, grad_v)[0]

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        rows = self.slots.rows.clone()
        return rows, (rows >= 0).sum(1)

    def update(self, row: int, weights: Tensor | None) -> None:
        nu = self.nu
        ring = self.ring[row % nu]  # (B, 1): slot of h_{row-nu}, about to leave the buffer
        if row < nu:  # buffer still filling: slot `row` is free for everyone
            target = torch.full_like(ring, row)
        else:
            score = self.relevancy.gather(1, ring)  # (B, 1) relevancy of the leaving state
            lowest, where = self.prio.min(1, keepdim=True)  # a free slot (-inf) if any, else the weakest member
            keep = score > lowest
            # the leaving state joins the relevant set (its slot keeps its row) or is overwritten by h_row
            self.prio.scatter_(1, ring, torch.where(keep, score, INF))
            target = torch.where(keep, where, ring)
        self.prio.scatter_(1, target, INF)
        self.relevancy.scatter_(1, target, 0.0)
        self.slots.put(target, row)
        ring.copy_(target)


@register_variant
class RSM(MemoryLSTM):
    """LSTM attending over a short-term buffer plus a relevancy-screened set of older states."""

    name = "rsm"
    description = "Relevancy Screening: attention over a short-term buffer plus a screened relevant set"
    params = (
        Param("nu", 10, int, low=1, help="short-term buffer: the last nu hidden states"),
        Param("rho", 15, int, low=0, axis="memory", help="relevant set: at most rho older states"),
    )

    def attended_set(self, bank: BankStorage) -> AttendedSet:
        return ScreenedSet(bank, self.config["nu"], self.config["rho"])

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        cls.resolve(params)
        return {"time": 1.0, "flops": 1.0, "memory": 1.0}

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        p = cls.resolve(params)
        slots = p["nu"] + p["rho"]  # empty slots are scored too, then masked
        return cls.memory_flops(shape, [0] + [slots] * (shape.seq_len - 1))
