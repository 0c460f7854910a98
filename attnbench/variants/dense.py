"""dense: an LSTM attending over every earlier hidden state at every step.

The "MemRNN" of the RSM paper and the "LSTM + full self-attention" of the SAB paper, in the LSTM form
shared with rsm (see :mod:`attnbench.variants.memory_lstm`). Work at step t is O(t H), O(T^2 H) per
sequence; memory is the O(T H) stored states plus the O(T^2) attention weights kept for backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from attnbench.ops.additive_read import additive_attend, additive_attend_backward
from attnbench.ops.state_bank import BankStorage
from attnbench.variants.base import FlopCount, Shape
from attnbench.variants.memory_lstm import AttendedSet, MemoryLSTM
from attnbench.variants.registry import register_variant


class AllStates(AttendedSet):
    """Every state stored so far: rows [0, t) at step t, read in place from the bank."""

    def read(self, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        return additive_attend(self.bank, query, v, 0, t)

    def read_backward(
        self, t: int, query: Tensor, v: Tensor, weights: Tensor, d_summary: Tensor, grad_v: Tensor
    ) -> Tensor:
        return additive_attend_backward(self.bank, query, v, weights, 0, t, d_summary, grad_v)[0]

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        b = like.shape[0]
        rows = torch.arange(t, device=like.device).expand(b, -1)
        return rows, torch.full((b,), t, dtype=torch.long, device=like.device)


@register_variant
class Dense(MemoryLSTM):
    """LSTM with dense additive self-attention over all past hidden states."""

    name = "dense"
    description = "LSTM with dense self-attention over every past state (MemLSTM)"
    params = ()

    def attended_set(self, bank: BankStorage) -> AttendedSet:
        return AllStates(bank)

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        cls.resolve(params)
        return {"time": 2.0, "flops": 2.0, "memory": 2.0}  # memory: the O(T^2) weights kept for backward

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        cls.resolve(params)
        return cls.memory_flops(shape, list(range(shape.seq_len)))
