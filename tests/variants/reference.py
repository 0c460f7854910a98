"""Plain per-example references of the built-in variants, written from the papers' descriptions.

SAB: Ke et al., "Sparse Attentive Backtracking", NeurIPS 2018 (Algorithm 1); rsm: Kerg et al.,
"Untangling tradeoffs between recurrence and self-attention in neural networks", NeurIPS 2020 (the
relevancy screening mechanism).

One sequence at a time, Python lists for memories, literal tanh and softmax: slow and obviously
right. They reuse a built variant's parameters, so outputs and gradients can be compared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.variants.dense import Dense
from attnbench.variants.lstm import LSTM
from attnbench.variants.rsm import RSM
from attnbench.variants.sab import SAB


def _cell(model: torch.nn.Module, x_t: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step on single vectors, gates written out."""
    cell = model.cell if hasattr(model, "cell") else None
    if cell is None:
        rnn = model.rnn
        w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
    else:
        w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    gates = w_ih @ x_t + b_ih + w_hh @ h + b_hh
    i, f, g, o = gates.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_reference(model: LSTM, x: Tensor) -> Tensor:
    """(B, T, C) logits of the LSTM, truncated every k_trunc steps when set."""
    k = model.config["k_trunc"]
    outs = []
    for seq in x:
        h = c = seq.new_zeros(model.hidden_size)
        row = []
        for t, x_t in enumerate(seq):
            if k is not None and t > 0 and t % k == 0:
                h, c = h.detach(), c.detach()
            h, c = _cell(model, x_t, h, c)
            row.append(model.head(h))
        outs.append(torch.stack(row))
    return torch.stack(outs)


def sab_reference(model: SAB, x: Tensor) -> Tensor:
    """SAB as the paper states it, one example at a time."""
    p = model.config
    k = p["k_top"]
    outs = []
    for seq in x:
        h = c = seq.new_zeros(model.hidden_size)
        memory: list[Tensor] = []
        row = []
        for t, x_t in enumerate(seq):
            if t > 0 and t % p["k_trunc"] == 0:
                h, c = h.detach(), c.detach()
            h_prov, c = _cell(model, x_t, h, c)
            window = memory if p["max_mem"] is None else memory[-p["max_mem"] :]
            summary = torch.zeros_like(h_prov)
            if window:
                scores = torch.stack(
                    [model.score @ torch.tanh(model.query(h_prov) + model.key(m)) for m in window]
                )  # MLP on [h'_t ; m_i]
                if len(window) <= k:
                    weights = torch.softmax(scores, 0)
                else:
                    threshold = torch.sort(scores, descending=True).values[k]  # the (k+1)-th largest
                    shifted = torch.clamp(scores - threshold, min=0)
                    weights = shifted / (shifted.sum() + 1e-12)
                for a, m in zip(weights, window):
                    summary = summary + a * m
            h = h_prov + summary
            if (t + 1) % p["k_att"] == 0:
                memory.append(h)
            row.append(model.head(torch.cat([h, summary])))
        outs.append(torch.stack(row))
    return torch.stack(outs)


def _memory_step(model: Dense | RSM, s: Tensor, h_prev: Tensor, states: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Attention of the memory LSTMs: weights over ``states`` and s_t = (h_{t-1} + c_t) / 2."""
    scores = torch.stack([model.score @ torch.tanh(model.query(s) + model.key(m)) for m in states])
    weights = torch.softmax(scores, 0)
    summary = sum(a * m for a, m in zip(weights, states))
    return weights, 0.5 * (h_prev + summary)


def dense_reference(model: Dense, x: Tensor) -> Tensor:
    """dense: attention over every earlier hidden state."""
    outs = []
    for seq in x:
        h = s = c = seq.new_zeros(model.hidden_size)
        past: list[Tensor] = []
        row = []
        for x_t in seq:
            if past:
                _, s = _memory_step(model, s, h, past)
            h, c = _cell(model, x_t, s, c)  # the LSTM form: gates read [s_t ; x_t]
            past.append(h)
            row.append(model.head(h))
        outs.append(torch.stack(row))
    return torch.stack(outs)


def rsm_reference(model: RSM, x: Tensor, trace: list | None = None) -> Tensor:
    """rsm as the paper states it: sliding buffer of nu states, relevant set of at most rho.

    When ``trace`` is a list, appends per example and step the time steps attended (sorted).
    """
    nu, rho = model.config["nu"], model.config["rho"]
    outs = []
    for seq in x:
        h = s = c = seq.new_zeros(model.hidden_size)
        buffer: list[list] = []  # [state, relevancy, time step], oldest first
        relevant: list[list] = []
        row, steps = [], []
        for t, x_t in enumerate(seq):
            if t > 0:
                members = buffer + relevant
                weights, s = _memory_step(model, s, h, [m[0] for m in members])
                for member, a in zip(buffer, weights[: len(buffer)]):
                    member[1] += float(a.detach())
                steps.append(sorted(m[2] for m in members))
            h, c = _cell(model, x_t, s, c)  # the LSTM form: gates read [s_t ; x_t]
            if len(buffer) == nu:
                leaving = buffer.pop(0)
                if len(relevant) < rho:
                    relevant.append(leaving)
                elif rho > 0:
                    weakest = min(range(rho), key=lambda j: relevant[j][1])
                    if leaving[1] > relevant[weakest][1]:
                        relevant[weakest] = leaving
            buffer.append([h, 0.0, t])
            row.append(model.head(h))
        outs.append(torch.stack(row))
        if trace is not None:
            trace.append(steps)
    return torch.stack(outs)


REFERENCES = {"lstm": lstm_reference, "sab": sab_reference, "dense": dense_reference, "rsm": rsm_reference}


def loss_of(logits: Tensor, target: Tensor) -> Tensor:
    """A loss touching every step, for gradient comparisons."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
