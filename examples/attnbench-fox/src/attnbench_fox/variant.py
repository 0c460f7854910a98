"""fox: an LSTM attending over its past hidden states with forgetting attention (FoX), optionally pruned.

Step t (batch B, hidden size H, head size d):

1. ``h'_t, c_t = LSTMCell(x_t, (h_{t-1}, c_{t-1}))``, then one projection of ``h'_t`` gives the query
   ``q_t`` (scaled by ``1/sqrt(d)``), the key ``k_t`` and the forget-gate logit ``g_t``. Key, value and
   gate come from the same vector, as FoX takes them from the same token:
   ``log f_t = logsigmoid(g_t + b_f)`` with ``b_f`` a learned scalar initialised to ``forget_bias``.
2. For t >= 1, forgetting attention over the earlier cell outputs ``h'_j``, j < t (the newest
   ``window`` if set): ``a_tj = softmax_j(q_t . k_j + sum_{l=j+1}^{t-1} log f_l)``,
   ``o_t = sum_j a_tj h'_j`` and ``h_t = h'_t + o_t``, which feeds the next step and the output layer
   (``h_0 = h'_0``). Values are the cell outputs, not ``h_j``, so ``|h_t| <= 2``: summing attended
   states into the state would let it grow without bound once the gates close.
3. ``h'_t`` is stored with the key row ``[k_t ; log f_t]``.

With ``acp_log_eps`` set, each read skips the oldest rows whose forget-gate bias guarantees they hold
at most ``eps = exp(acp_log_eps)`` of the attention mass (:func:`~attnbench_fox.forgetting_read.acp_start`):
the skipped rows cost nothing, so FLOPs and time fall as the gates close, and the summary stays within
``eps (max_j h'_j - min_j h'_j) <= 2 eps`` per coordinate of the unpruned one at the same step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from attnbench.ops import StateBank
from attnbench.params import Param
from attnbench.variants import (
    Diagnostics,
    FlopCount,
    RecurrentVariant,
    Shape,
    VariantOutput,
    add_counts,
    linear_flops,
)
from torch import Tensor, nn

from attnbench_fox.forgetting_read import acp_start, forgetting_read


class ForgettingAttentionLSTM(RecurrentVariant):
    """LSTM with single-head forgetting attention over past states and optional Adaptive Computation Pruning."""

    name = "fox"
    description = "LSTM with forgetting attention (FoX) over past states; optional safe pruning (ACP)"
    params = (
        Param("head_dim", None, int, low=1, none_means="hidden_size", help="query and key size d"),
        Param(
            "window",
            None,
            int,
            low=1,
            axis="memory",
            none_means="unbounded",
            help="attend over at most the newest window states",
        ),
        Param(
            "acp_log_eps",
            None,
            float,
            high=-0.01,
            none_means="no pruning",
            help="Adaptive Computation Pruning: log of the attention mass it may drop per step (release: -10)",
        ),
        Param(
            "forget_bias",
            3.0,
            float,
            help="initial forget-gate bias b_f; lower closes the gates: more forgetting, more pruning",
        ),
    )

    def build(self) -> None:
        h = self.hidden_size
        d = self.head_dim = self.config["head_dim"] or h
        self.cell = nn.LSTMCell(self.input_size, h)
        self.project = nn.Linear(h, 2 * d + 1, bias=False)  # [W_q ; W_k ; w_f], applied to h'_t
        self.forget_bias = nn.Parameter(torch.tensor(float(self.config["forget_bias"])))  # b_f
        self.head = nn.Linear(h, self.output_size)

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t_len = self.check_input(x)
        d, window, log_eps = self.head_dim, self.config["window"], self.config["acp_log_eps"]
        cell = self.cell
        gates = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        scale = 1.0 / math.sqrt(d)
        bank = StateBank(b, max(t_len - 1, 1), self.hidden_size, d + 1, like=x)  # the last state is never read
        # for ACP, detached: -L_j = -sum_{l <= j} log f_l of the stored rows, and the running max |k_j|
        # (float64: the cumulative sum grows without bound, and its rounding would move the window)
        neg_log_decay = x.new_full((b, t_len), math.inf, dtype=torch.float64)
        log_decay = x.new_zeros(b, dtype=torch.float64)
        key_norm = x.new_zeros(b, dtype=torch.float32)
        h = c = x.new_zeros(b, self.hidden_size)
        hidden: list[Tensor] = []
        weights: list[Tensor | None] = [None]
        attended: list[Tensor | None] = [None]
        occupancy = [0]
        for t, x_t in enumerate(x.unbind(1)):
            h_prov, c = torch.lstm_cell(x_t, (h, c), *gates)  # (B, H)
            h = h_prov
            if t_len == 1:
                hidden.append(h)
                break  # nothing to read and nothing to store
            qkg = F.linear(h_prov, self.project.weight)  # (B, 2d + 1): query, key, gate logit
            if t > 0:
                query = qkg[:, :d] * scale
                lo = 0 if window is None else max(0, t - window)
                start = lo
                if log_eps is not None:
                    q_norm = torch.linalg.vector_norm(query.detach(), dim=1).float()
                    start = acp_start(neg_log_decay, q_norm, key_norm, lo=lo, stop=t, log_eps=log_eps)
                summary, a = forgetting_read(bank, query, start=start, stop=t)
                h = h_prov + summary
                if diagnostics:
                    weights.append(a)
                    attended.append(torch.arange(start, t, device=x.device).expand(b, -1))
                    occupancy.append(t - lo)
            hidden.append(h)
            if t < t_len - 1:
                key = qkg[:, d : 2 * d]
                log_f = F.logsigmoid(qkg[:, 2 * d : 2 * d + 1] + self.forget_bias)  # (B, 1)
                bank.append(h_prov, torch.cat([key, log_f], dim=1))
                if log_eps is not None:
                    log_decay = log_decay + log_f.detach().squeeze(1).double()  # L_t
                    neg_log_decay[:, t] = -log_decay
                    key_norm = torch.maximum(key_norm, torch.linalg.vector_norm(key.detach(), dim=1).float())
        logits = self.head(torch.stack(hidden, dim=1))  # (B, T, C)
        if not diagnostics:
            return VariantOutput(logits)
        occ = torch.tensor(occupancy, device=x.device).expand(b, -1)
        return VariantOutput(logits, Diagnostics(hidden, weights, attended, occ))

    @classmethod
    def keys_read(cls, seq_len: int, window: int | None) -> list[int]:
        """Rows read at each step t >= 1 without pruning."""
        return [t if window is None else min(t, window) for t in range(1, seq_len)]

    @classmethod
    def flops(cls, shape: Shape, keys_read: Sequence[int], head_dim: int | None = None) -> FlopCount:
        """Matrix-multiply FLOPs of a forward and backward pass that read ``keys_read[t - 1]`` rows at step t.

        With pruning, pass the rows actually read (the widths of ``Diagnostics.weights``).
        Per pass: the LSTM cell on every step (the state gradient from step 1 on: ``h_0`` is constant),
        the query-key-gate projection on every step (none when T = 1: nothing is read or stored), the
        reads ``2 B K (d + H)`` forward and again backward, and the output layer.
        """
        b, t, i, h, c = shape.batch, shape.seq_len, shape.input_size, shape.hidden_size, shape.output_size
        d = head_dim or h
        cell_fwd = 2.0 * b * t * 4 * h * (i + h)
        cell = FlopCount(cell_fwd, cell_fwd + 2.0 * b * max(t - 1, 0) * 4 * h * h)
        read = 2.0 * b * sum(keys_read) * (d + h)
        return add_counts(
            cell,
            linear_flops(b * t if t > 1 else 0, h, 2 * d + 1),  # query, key and gate
            FlopCount(read, read),
            linear_flops(b * t, h, c),  # output layer
        )

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        """Attention over every past state is quadratic in T (the (B, t) weights kept for backward
        too); a window makes every cost linear. Pruning only lowers the constant: with open gates
        nothing is pruned."""
        p = cls.resolve(params)
        power = 1.0 if p["window"] is not None else 2.0
        return {"time": power, "flops": power, "memory": power}

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount | None:
        """Exact without pruning; with pruning the rows read depend on the gates, so None (count them)."""
        p = cls.resolve(params)
        if p["acp_log_eps"] is not None:
            return None
        return cls.flops(shape, cls.keys_read(shape.seq_len, p["window"]), p["head_dim"])
