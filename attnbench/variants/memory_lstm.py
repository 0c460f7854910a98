"""The recurrence shared by dense and rsm: an LSTM whose state input is an attention summary.

At step t, attend with query ``s_{t-1}`` over a set of past hidden states (additive scores
``e_i = v . tanh(W s_{t-1} + U h_i)``, softmax), form ``s_t = (h_{t-1} + c_t) / 2`` and feed
``[s_t ; x_t]`` into the LSTM gates (the "LSTM form" of the RSM paper, RelLSTM in its released code).
The first step attends over nothing and starts from ``s_0 = 0``. Subclasses choose the set: every past
state (dense) or the short-term buffer plus the relevant set (rsm).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.ops.scores import to_sigmoid_form
from attnbench.ops.state_bank import StateBank
from attnbench.variants.base import (
    Diagnostics,
    FlopCount,
    RecurrentVariant,
    Shape,
    VariantOutput,
    add_counts,
    bank_key_flops,
    linear_flops,
)
from attnbench.variants.lstm import lstm_cell_flops


class MemoryLSTM(RecurrentVariant):
    """Base of the additive-attention LSTMs.

    Subclasses implement :meth:`start` (per-sequence state of the attended set), :meth:`read`
    (attention at step t over the set) and :meth:`update` (the set after h_t is stored in row t).
    """

    def build(self) -> None:
        h = self.hidden_size
        self.cell = nn.LSTMCell(self.input_size, h)  # gates read [s_t ; x_t]
        self.query = nn.Linear(h, h, bias=False)  # W, applied to s_{t-1}
        self.key = nn.Linear(h, h, bias=False)  # U, applied to each stored h_i
        self.score = nn.Parameter(torch.randn(h) / math.sqrt(h))  # v
        self.head = nn.Linear(h, self.output_size)

    def start(self, bank: StateBank) -> None:
        """Reset the attended set for a new batch of sequences stored in ``bank``."""

    def read(self, bank: StateBank, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """Attend at step t (t >= 1) over the set with query and score vector in sigmoid form
        (:mod:`attnbench.ops.scores`); return summary (B, H) and weights (B, K)."""
        raise NotImplementedError

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """For diagnostics, after :meth:`read` at step t: the time steps of the K weights (B, K),
        -1 where a slot is empty, and how many states the set holds (B,)."""
        raise NotImplementedError

    def update(self, t: int, weights: Tensor | None) -> None:
        """h_t has just been stored in bank row t; ``weights`` are step t's (None at t = 0)."""

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t_len = self.check_input(x)
        cell = self.cell
        gates = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        # the scores in sigmoid form (attnbench.ops.scores), scaled once per pass
        w_query, w_key, v = (to_sigmoid_form(p) for p in (self.query.weight, self.key.weight, self.score))
        bank = StateBank(b, t_len, self.hidden_size, self.hidden_size, like=x, key_weight=w_key)
        self.start(bank)
        h = s = c = x.new_zeros(b, self.hidden_size)
        hidden: list[Tensor] = []
        record: tuple[list, list, list] = ([], [], [])
        for t, x_t in enumerate(x.unbind(1)):
            weights = None
            if t > 0:
                summary, weights = self.read(bank, F.linear(s, w_query), v, t)
                s = (h + summary) * 0.5  # s_t = (h_{t-1} + c_t) / 2
                if diagnostics:
                    record[0].append(weights)
                    for store, item in zip(record[1:], self.attended(t, h)):
                        store.append(item)
            h, c = torch.lstm_cell(x_t, (s, c), *gates)  # gates read [s_t ; x_t]
            bank.append(h)
            self.update(t, weights)
            hidden.append(h)
        logits = self.head(torch.stack(hidden, dim=1))  # (B, T, C)
        if not diagnostics:
            return VariantOutput(logits)
        zero = torch.zeros(b, dtype=torch.long, device=x.device)
        occupancy = torch.stack([zero, *record[2]], dim=1)
        none: list[Tensor | None] = [None]
        return VariantOutput(logits, Diagnostics(hidden, none + record[0], none + record[1], occupancy))

    @staticmethod
    def memory_flops(shape: Shape, slots_per_step: list[int]) -> FlopCount:
        """FLOPs of the recurrence given how many slots each step scores.

        Per step: query ``W s_{t-1}`` (from step 1, its input gradient from step 2 on, since
        ``s_0`` is constant), additive scores (B K H), the weighted sum (B K H) and, in backward,
        the two matching products; one key ``U h_t`` per step; gate cell with the state gradient from
        step 1 on; head.
        """
        b, t, h = shape.batch, shape.seq_len, shape.hidden_size
        reads = sum(1 for k in slots_per_step if k > 0)
        slots = sum(slots_per_step)
        query_fwd = 2.0 * b * reads * h * h
        query = FlopCount(query_fwd, query_fwd + 2.0 * b * max(reads - 1, 0) * h * h)
        attention = FlopCount(2.0 * b * slots * (h + h), 2.0 * b * slots * (h + h))
        return add_counts(
            lstm_cell_flops(shape, t - 1),
            query,
            attention,
            bank_key_flops(b, t, t - 1, h, h),  # row t is read from step t + 1 on; the last row never
            linear_flops(b * t, h, shape.output_size),  # head
        )
