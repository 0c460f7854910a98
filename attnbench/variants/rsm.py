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

from attnbench.ops.slot_read import SlotMemory, slot_read
from attnbench.ops.state_bank import StateBank
from attnbench.params import Param
from attnbench.variants.base import FlopCount, Shape
from attnbench.variants.memory_lstm import MemoryLSTM
from attnbench.variants.registry import register_variant

INF = float("inf")


@register_variant
class RSM(MemoryLSTM):
    """LSTM attending over a short-term buffer plus a relevancy-screened set of older states."""

    name = "rsm"
    description = "Relevancy Screening: attention over a short-term buffer plus a screened relevant set"
    params = (
        Param("nu", 10, int, low=1, help="short-term buffer: the last nu hidden states"),
        Param("rho", 15, int, low=0, axis="memory", help="relevant set: at most rho older states"),
    )

    def start(self, bank: StateBank) -> None:
        b, nu, dev = bank.batch, self.config["nu"], bank.values.device
        self._slots = SlotMemory(bank, nu + self.config["rho"])
        # priority: -inf empty, +inf buffer (never evicted), else the frozen relevancy of a relevant state
        self._prio = torch.full((b, self._slots.slots), -INF, dtype=bank.values.dtype, device=dev)
        self._relevancy = torch.zeros_like(self._prio)  # accumulated while in the buffer
        self._buffer = torch.zeros(b, nu, 1, dtype=torch.long, device=dev)  # slot of h_{t-nu+j}, ring

    def read(self, bank: StateBank, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        slots = self._slots
        # slots fill in order, one per step, until all nu + rho hold a state
        summary, weights = slot_read(bank, slots, query, v, slots.valid() if t < slots.slots else None)
        self._relevancy += weights  # only buffer slots' sums are ever used
        return summary, weights

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        rows = self._slots.rows.clone()
        return rows, (rows >= 0).sum(1)

    @torch.no_grad()
    def update(self, t: int, weights: Tensor | None) -> None:
        nu = self.config["nu"]
        ring = self._buffer[:, t % nu]  # (B, 1): slot of h_{t-nu}, about to leave the buffer
        if t < nu:  # buffer still filling: slot t is free for everyone
            target = torch.full_like(ring, t)
        else:
            score = self._relevancy.gather(1, ring)  # (B, 1) relevancy of the leaving state
            lowest, where = self._prio.min(1, keepdim=True)  # a free slot (-inf) if any, else the weakest member
            keep = score > lowest
            # the leaving state joins the relevant set (its slot keeps its row) or is overwritten by h_t
            self._prio.scatter_(1, ring, torch.where(keep, score, INF))
            target = torch.where(keep, where, ring)
        self._prio.scatter_(1, target, INF)
        self._relevancy.scatter_(1, target, 0.0)
        self._slots.put(target, t)
        ring.copy_(target)

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        cls.resolve(params)
        return {"time": 1.0, "flops": 1.0, "memory": 1.0}

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        p = cls.resolve(params)
        slots = p["nu"] + p["rho"]  # empty slots are scored too, then masked
        return cls.memory_flops(shape, [0] + [slots] * (shape.seq_len - 1))
