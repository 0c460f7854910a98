"""Plain references for the tests: forgetting attention and the whole fox recurrence, as written in
the module docstrings, one sequence at a time with Python lists and literal sums. Slow and obviously
right; they reuse a built model's parameters so outputs and gradients can be compared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench_fox.variant import ForgettingAttentionLSTM


def forgetting_attention_naive(query: Tensor, keys: Tensor, values: Tensor, log_f: Tensor) -> tuple[Tensor, Tensor]:
    """Attention of one query (d,) over K rows: keys (K, d), values (K, H), gates log f (K,).

    ``s_j = q . k_j + sum_{l=j+1}^{K-1} log f_l``; returns the summary (H,) and the weights (K,).
    """
    n = keys.shape[0]
    bias = torch.stack([sum((log_f[m] for m in range(j + 1, n)), log_f.new_zeros(())) for j in range(n)])
    weights = torch.softmax(keys @ query + bias, dim=0)
    return weights @ values, weights


def fox_reference(model: ForgettingAttentionLSTM, x: Tensor) -> Tensor:
    """(B, T, C) logits of ``model`` without pruning, one example at a time."""
    d, window = model.head_dim, model.config["window"]
    outs = []
    for seq in x:
        h = c = seq.new_zeros(model.hidden_size)
        states: list[Tensor] = []  # h'_j
        keys: list[Tensor] = []
        log_f: list[Tensor] = []
        row = []
        for t, x_t in enumerate(seq):
            h_prov, c = model.cell(x_t.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)))
            h_prov, c = h_prov.squeeze(0), c.squeeze(0)
            qkg = model.project(h_prov)
            h = h_prov
            if t > 0:
                lo = 0 if window is None else max(0, t - window)
                query = qkg[:d] / math.sqrt(d)
                summary, _ = forgetting_attention_naive(
                    query, torch.stack(keys[lo:]), torch.stack(states[lo:]), torch.stack(log_f[lo:])
                )
                h = h_prov + summary
            states.append(h_prov)
            keys.append(qkg[d : 2 * d])
            log_f.append(F.logsigmoid(qkg[2 * d] + model.forget_bias))
            row.append(model.head(h))
        outs.append(torch.stack(row))
    return torch.stack(outs)
