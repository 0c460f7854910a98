"""lstm: the plain baseline, full or truncated backpropagation through time.

Two execution paths share one set of weights (``torch.nn.LSTM``'s): the fused recurrent kernel
(cuDNN on GPU, oneDNN on CPU; the fair baseline for speed) and a step-by-step ``lstm_cell`` loop (the
fair baseline for the attention variants' overhead, and the path that exposes per-step hidden
states for diagnostics).

Replicate groups (:meth:`LSTM.group_forward`): torch's fused kernels take no grouped weights, so a
group runs :class:`~attnbench.ops.lstm_cell.LSTMSequence` with its stacked weights in one node of its
own (full or truncated BPTT), every product batched over the G replicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from attnbench.ops import grouped
from attnbench.ops.lstm_cell import LSTMSequence
from attnbench.params import Param
from attnbench.variants.base import (
    Diagnostics,
    FlopCount,
    RecurrentVariant,
    Shape,
    VariantOutput,
    add_counts,
    linear_flops,
)
from attnbench.variants.registry import register_variant


def truncation_starts(seq_len: int, k_trunc: int | None) -> int:
    """How many steps t > 0 start a new truncation window (their incoming state is detached)."""
    return 0 if k_trunc is None else (seq_len - 1) // k_trunc


def lstm_cell_flops(shape: Shape, steps_with_state_grad: float) -> FlopCount:
    """One LSTM cell per step: input and recurrent projections to 4H gates.

    The input projection's backward computes only the weight gradient (inputs carry none); the
    recurrent one also computes the state gradient on the ``steps_with_state_grad`` steps whose
    incoming state is part of the graph.
    """
    b, t, i, h = shape.batch, shape.seq_len, shape.input_size, shape.hidden_size
    fwd = 2.0 * b * t * 4 * h * (i + h)
    weight_grads = fwd
    state_grads = 2.0 * b * steps_with_state_grad * 4 * h * h
    return FlopCount(fwd, weight_grads + state_grads)


class _CellSequence(torch.autograd.Function):
    """The LSTM over a whole sequence in one node (:class:`LSTMSequence`), ``k_trunc`` None for full BPTT
    or the state's gradient cut at every step t > 0 with t % k_trunc == 0: (B, T, I) -> (T, B, H)."""

    @staticmethod
    def forward(ctx, k_trunc, x, w_ih, w_hh, b_ih, b_hh):  # noqa: ANN001, ANN205
        b, t_len = x.shape[:2]
        states = x.new_empty(t_len + 1, b, w_hh.shape[-1])  # row t: h_{t-1}, fed to step t; row t + 1: h_t
        states[0].zero_()
        cell = LSTMSequence(x, (w_ih, w_hh, b_ih, b_hh), states[:-1])
        for t in range(t_len):
            cell.step(t, states[t + 1])
        ctx.k_trunc, ctx.cell = k_trunc, cell
        ctx.save_for_backward(states, *cell.saved)
        # a copy: the cell (kept on ctx) reads views of ``states``, and returning one would make a
        # reference cycle through the output's grad_fn (see attnbench.variants.sab)
        return states[1:].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_hidden):  # noqa: ANN001, ANN205
        cell: LSTMSequence = ctx.cell
        k = ctx.k_trunc
        cell.begin_backward(x_grad=ctx.needs_input_grad[1])
        carry: Tensor | None = None
        d_c: Tensor | None = None
        for t in range(d_hidden.shape[0] - 1, -1, -1):
            d_h = d_hidden[t] if carry is None else carry.add_(d_hidden[t])
            cut = t == 0 or (k is not None and t % k == 0)  # h_{-1} = 0 is constant; detached states
            carry, d_c = cell.step_backward(t, d_h, d_c, state_grad=not cut)
            if cut:
                d_c = None
        return None, cell.input_grad(), *cell.weight_grads()


# Opaque to TorchDynamo, like the attention variants' nodes: its forward writes into preallocated views.
_cell_sequence = torch.compiler.disable(_CellSequence.apply)


@register_variant
class LSTM(RecurrentVariant):
    """LSTM with full BPTT (k_trunc none) or truncated BPTT (state detached every k_trunc steps)."""

    name = "lstm"
    description = "plain LSTM; full or truncated BPTT; fused kernel or LSTMCell loop"
    params = (
        Param("k_trunc", None, int, low=1, none_means="full BPTT", help="detach h and c every k_trunc steps"),
        Param("fused", True, bool, help="fused nn.LSTM kernel (true) or step-by-step cell loop (false)"),
    )

    def build(self) -> None:
        self.rnn = nn.LSTM(self.input_size, self.hidden_size, batch_first=True)
        self.head = nn.Linear(self.hidden_size, self.output_size)

    def group_forward(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """G replicates at once (see ``RecurrentVariant.group_forward``): ``params`` (G, *shape) stacks,
        x (G, B, T, I) -> logits (G, B, T, C). A group of one runs :meth:`forward` (the fused kernel when
        ``fused``); larger groups the grouped cell sequence, whatever ``fused`` says."""
        g, b, t_len, _ = x.shape
        if g == 1:
            return grouped.run_alone(self, params, x)
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        gates = tuple(params[f"rnn.{name}"] for name in names)
        hidden = _cell_sequence(self.config["k_trunc"], x.reshape(g * b, t_len, -1), *gates)  # (T, G B, H)
        return grouped.group_head(params["head.weight"], params["head.bias"], hidden.transpose(0, 1), g)

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t = self.check_input(x)
        k = self.config["k_trunc"]
        if self.config["fused"] and not diagnostics:
            if k is None:
                states, _ = self.rnn(x)  # (B, T, H)
            else:
                chunks, hc = [], None
                for start in range(0, t, k):
                    out, hc = self.rnn(x[:, start : start + k], hc)
                    hc = (hc[0].detach(), hc[1].detach())
                    chunks.append(out)
                states = torch.cat(chunks, dim=1)
            return VariantOutput(self.head(states))
        hidden = self._cell_loop(x, k)
        logits = self.head(torch.stack(hidden, dim=1))  # (B, T, C)
        if not diagnostics:
            return VariantOutput(logits)
        none: list[Tensor | None] = [None] * t
        occupancy = torch.zeros(b, t, dtype=torch.long, device=x.device)
        return VariantOutput(logits, Diagnostics(hidden, list(none), list(none), occupancy))

    def _cell_loop(self, x: Tensor, k: int | None) -> list[Tensor]:
        rnn = self.rnn
        w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        hidden = []
        for t, x_t in enumerate(x.unbind(1)):
            if k is not None and t > 0 and t % k == 0:
                h, c = h.detach(), c.detach()
            h, c = torch.lstm_cell(x_t, (h, c), w_ih, w_hh, b_ih, b_hh)
            hidden.append(h)
        return hidden

    @classmethod
    def scaling_exponents(cls, **params: Any) -> dict[str, float]:
        cls.resolve(params)
        return {"time": 1.0, "flops": 1.0, "memory": 1.0}

    @classmethod
    def analytic_flops(cls, shape: Shape, **params: Any) -> FlopCount:
        p = cls.resolve(params)
        b, t, h = shape.batch, shape.seq_len, shape.hidden_size
        head = linear_flops(b * t, h, shape.output_size)
        if p["fused"]:
            # the fused kernels compute input, state and weight gradients on every step
            fwd = 2.0 * b * t * 4 * h * (shape.input_size + h)
            return add_counts(FlopCount(fwd, 2 * fwd), head)
        detached = 1 + truncation_starts(t, p["k_trunc"])  # step 0 starts from a constant zero state
        return add_counts(lstm_cell_flops(shape, t - detached), head)
