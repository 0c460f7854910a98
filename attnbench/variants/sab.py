"""sab: Sparse Attentive Backtracking (Ke et al., NeurIPS 2018).

Every ``k_att`` steps the hidden state is appended to a memory (not detached). At each step the LSTM
cell gives a provisional state ``h'_t``; an MLP scores each memory from ``[h'_t ; m_i]`` and the
scores are sparsified by subtracting the (k_top+1)-th largest, clamping at 0 and normalising, so at
most ``k_top`` memories get weight. ``h_t = h'_t + sum_i a_i m_i`` feeds the next step and the output
layer reads ``[h_t ; summary]``. ``h`` and ``c`` are detached every ``k_trunc`` steps, so gradient
reaches the far past only through the selected memories.

Unlike the released code: the MLP has a hidden layer, so the weights depend on ``h'_t``; the
(k_top+1)-th score is subtracted, so exactly ``k_top`` weights survive; and with ``k_top`` or fewer
memories the weights are a softmax over all of them, not raw scores.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.ops.scores import to_sigmoid_form
from attnbench.ops.sparse_read import sparse_read
from attnbench.ops.state_bank import StateBank
from attnbench.params import Param
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
from attnbench.variants.lstm import lstm_cell_flops, truncation_starts
from attnbench.variants.registry import register_variant


@register_variant
class SAB(RecurrentVariant):
    """LSTM with sparse top-k attention over memories stored every k_att steps."""

    name = "sab"
    description = "Sparse Attentive Backtracking: top-k attention over memories, truncated BPTT"
    params = (
        Param("k_trunc", 10, int, low=1, help="detach h and c every k_trunc steps"),
        Param("k_att", 10, int, low=1, help="append the hidden state to memory every k_att steps"),
        Param("k_top", 5, int, low=1, axis="top_k", help="memories that get non-zero attention weight"),
        Param(
            "max_mem",
            None,
            int,
            low=1,
            axis="memory",
            none_means="unbounded",
            help="attend over the newest max_mem memories",
        ),
        Param("mlp_hidden", None, int, low=1, none_means="hidden_size", help="hidden width of the scoring MLP"),
    )

    def build(self) -> None:
        h = self.hidden_size
        d = self.config["mlp_hidden"] or h
        self.cell = nn.LSTMCell(self.input_size, h)
        self.query = nn.Linear(h, d)  # MLP first layer, the h'_t half (with the layer's bias)
        self.key = nn.Linear(h, d, bias=False)  # MLP first layer, the m_i half
        self.score = nn.Parameter(torch.randn(d) / math.sqrt(d))  # MLP output layer
        self.head = nn.Linear(2 * h, self.output_size)

    @classmethod
    def skip(cls, seq_len: int, **params: Any) -> str | None:
        p = cls.resolve(params)
        if p["max_mem"] is not None and p["k_top"] > p["max_mem"]:
            return f"k_top={p['k_top']} exceeds max_mem={p['max_mem']}: no more than max_mem memories can be attended"
        return None

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t_len = self.check_input(x)
        k_trunc, k_att, k_top, max_mem = (self.config[k] for k in ("k_trunc", "k_att", "k_top", "max_mem"))
        cell = self.cell
        gates = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        # the scoring MLP in sigmoid form (attnbench.ops.scores), scaled once per pass
        w_query, b_query = to_sigmoid_form(self.query.weight), to_sigmoid_form(self.query.bias)
        w_key, w_score = to_sigmoid_form(self.key.weight), to_sigmoid_form(self.score)
        bank = StateBank(b, max(t_len // k_att, 1), self.hidden_size, w_key.shape[0], like=x, key_weight=w_key)
        h = c = zero = x.new_zeros(b, self.hidden_size)
        hidden, summaries = [], []
        attn: list[Tensor | None] = []
        attended: list[Tensor | None] = []
        occupancy = []
        for t, x_t in enumerate(x.unbind(1)):
            if t > 0 and t % k_trunc == 0:
                h, c = h.detach(), c.detach()
            h_prov, c = torch.lstm_cell(x_t, (h, c), *gates)  # (B, H)
            start = 0 if max_mem is None else max(0, bank.size - max_mem)
            if bank.size > 0:
                query = F.linear(h_prov, w_query, b_query)
                summary, a, rows = sparse_read(bank, query, w_score, k_top, start=start)
                h = h_prov + summary
            else:
                summary, a, rows, h = zero, None, None, h_prov
            if (t + 1) % k_att == 0:
                bank.append(h)
            hidden.append(h)
            summaries.append(summary)
            if diagnostics:
                attn.append(a)
                if rows is None and a is not None:
                    rows = torch.arange(start, start + a.shape[1], device=x.device).expand(b, -1)
                attended.append(None if rows is None else (rows + 1) * k_att - 1)  # memory row -> time step
                occupancy.append(bank.size - start - int((t + 1) % k_att == 0))
        logits = self.head(torch.cat([torch.stack(hidden, 1), torch.stack(summaries, 1)], dim=2))  # (B, T, C)
        if not diagnostics:
            return VariantOutput(logits)
        occ = torch.tensor(occupancy, device=x.device).expand(b, -1)
        return VariantOutput(logits, Diagnostics(hidden, attn, attended, occ))

    @classmethod
    def memories_read(cls, seq_len: int, k_att: int, max_mem: int | None) -> list[int]:
        """Number of memories in the attention window at each step."""
        counts = []
        for t in range(seq_len):
            n = t // k_att  # memories appended before step t
            counts.append(n if max_mem is None else min(n, max_mem))
        return counts

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        p = cls.resolve(params)
        # unbounded: T / k_att memories scored at every step, O(T^2 / k_att); the memory kept for
        # backward stays linear (the memories, plus k_top + 1 weights per step)
        work = 1.0 if p["max_mem"] is not None else 2.0
        return {"time": work, "flops": work, "memory": 1.0}

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        p = cls.resolve(params)
        b, t_len, h, c = shape.batch, shape.seq_len, shape.hidden_size, shape.output_size
        d = p["mlp_hidden"] or h
        k = p["k_top"]
        counts = cls.memories_read(t_len, p["k_att"], p["max_mem"])
        reads = [m for m in counts if m > 0]
        scored = sum(m for m in reads if m > k)  # the full no-grad scoring pass
        used = sum(min(m, k + 1) if m > k else m for m in reads)  # rows that enter the weights
        read = FlopCount(
            forward=2.0 * b * (scored * d + used * d + used * h),
            backward=2.0 * b * used * (h + d),
        )
        detached = 1 + truncation_starts(t_len, p["k_trunc"])
        return add_counts(
            lstm_cell_flops(shape, t_len - detached),
            linear_flops(b * len(reads), h, d),  # query
            bank_key_flops(b, t_len // p["k_att"], (t_len - 1) // p["k_att"], h, d),  # read once a later step exists
            read,
            linear_flops(b * t_len, 2 * h, c),  # head
        )
