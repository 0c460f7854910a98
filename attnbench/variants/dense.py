"""dense: an LSTM attending over every earlier hidden state at every step.

The "MemRNN" of the RSM paper and the "LSTM + full self-attention" of the SAB paper, in the LSTM form
shared with rsm (see :mod:`attnbench.variants.memory_lstm`). Work at step t is O(t H), O(T^2 H) per
sequence; memory is the O(T H) stored states plus the O(T^2) attention weights kept for backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from attnbench.ops.additive_read import additive_read
from attnbench.ops.state_bank import StateBank
from attnbench.variants.base import FlopCount, Shape
from attnbench.variants.memory_lstm import MemoryLSTM
from attnbench.variants.registry import register_variant


@register_variant
class Dense(MemoryLSTM):
    """LSTM with dense additive self-attention over all past hidden states."""

    name = "dense"
    description = "LSTM with dense self-attention over every past state (MemLSTM)"
    params = ()

    def read(self, bank: StateBank, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        return additive_read(bank, query, v, start=0, stop=t)

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        b = like.shape[0]
        rows = torch.arange(t, device=like.device).expand(b, -1)
        return rows, torch.full((b,), t, dtype=torch.long, device=like.device)

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        cls.resolve(params)
        return {"time": 2.0, "flops": 2.0, "memory": 2.0}  # memory: the O(T^2) weights kept for backward

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        cls.resolve(params)
        return cls.memory_flops(shape, list(range(shape.seq_len)))
