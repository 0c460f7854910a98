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

Replicate groups (:meth:`SAB.group_forward`) run the whole-sequence node on weights with a leading
dimension G and (G*B, ...) group-major rows (:mod:`attnbench.ops.grouped`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from attnbench.ops import grouped
from attnbench.ops.lstm_cell import LSTMSequence
from attnbench.ops.scores import to_sigmoid_form
from attnbench.ops.sparse_read import sparse_attend, sparse_attend_backward
from attnbench.ops.state_bank import BankStorage
from attnbench.ops.step_pass import StepPass
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


class _SabRun(StepPass):
    """:class:`~attnbench.ops.step_pass.StepPass` of sab: also the memory count, the latest
    weights and rows, and the scoring MLP's weights."""

    def __init__(self, bank: BankStorage, k_top: int, weights: tuple[Tensor, Tensor, Tensor, Tensor]) -> None:
        super().__init__(bank)
        self.k_top = k_top
        self.size = 0  # memories stored
        self.weights: Tensor | None = None  # the latest read's, and their rows (None: all memories, in order)
        self.rows: Tensor | None = None
        self.w_query, self.b_query, self.w_key, self.w = (t.detach() for t in weights)
        self.query_trained = torch.is_grad_enabled() and (weights[0].requires_grad or weights[1].requires_grad)


class _SabStep(torch.autograd.Function):
    """One step's attention: store ``h_{t-1}`` as a memory when given, project the query from ``h'_t``,
    read the top-k, return ``h_t = h'_t + summary``, the summary and a token, and leave the weights and
    their rows in ``run.weights`` and ``run.rows``.

    The token orders backward: each step's node takes the previous one's, so it runs after every later
    step's even where truncation cuts the recurrence, and a memory's gradient is complete when the node
    that stored it runs (no earlier step reads it). Weight gradients are summed over the pass and handed
    to autograd by the first node, the last to run, which alone takes the weights as inputs (see
    :mod:`attnbench.variants.memory_lstm`).
    """

    @staticmethod
    def forward(ctx, h_prov, stored, token, run, start, *_weights):  # noqa: ANN001, ANN002, ANN205
        bank: BankStorage = run.bank
        row = None
        if stored is not None:
            row = run.size
            run.store(row, stored, run.w_key)
            run.size += 1
        query = torch.addmm(run.b_query, h_prov, run.w_query.t())
        summary, weights, index, flat, norm = sparse_attend(bank, query, run.w, run.k_top, start, run.size)
        ctx.run, ctx.row, ctx.start, ctx.stop, ctx.first = run, row, start, run.size, token is None
        # the first node also saves the bank, once, so that saved-tensor hooks (memory accounting) see it
        ctx.save_for_backward(h_prov, query, weights, flat, norm, *((bank.saved,) if token is None else ()))
        run.weights, run.rows = weights, index
        return h_prov + summary, summary, h_prov.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx, d_h, d_summary, _d_token):  # noqa: ANN001, ANN205
        run: _SabRun = ctx.run
        bank = run.bank
        h_prov, query, weights, flat, norm = ctx.saved_tensors[:5]
        query_grad, w_grad = run.grads(query, h_prov, run.w)
        d_query, _ = sparse_attend_backward(
            bank, query, run.w, weights, flat, norm, ctx.start, ctx.stop, d_summary + d_h, w_grad
        )
        need = ctx.needs_input_grad
        d_h_prov = torch.addmm(d_h, d_query, run.w_query) if need[0] else None
        if run.query_trained:
            query_grad.add(d_query, h_prov)
        d_stored = None
        if ctx.row is not None and need[1]:  # complete: no earlier step reads this memory
            d_values, d_keys = bank.grad_buffer()
            d_stored = torch.addmm(d_values[:, ctx.row], d_keys[:, ctx.row], run.w_key)
        if not ctx.first:
            return d_h_prov, d_stored, None, None, None
        # the first node runs last in backward: the weight gradients are complete
        d_w_query, d_b_query = query_grad.total()
        d_w_key = bank.key_weight_grad(run.size) if need[7] else None
        return d_h_prov, d_stored, None, None, None, d_w_query, d_b_query, d_w_key, w_grad if need[8] else None


class _SabSequence(torch.autograd.Function):
    """The whole recurrence in one autograd node: forward loops over time keeping what backward needs,
    backward walks T-1, ..., 0 with the LSTM cell's backward by hand (:mod:`attnbench.ops.lstm_cell`).
    A memory's gradient is complete when backward reaches the step that stored it (no earlier step
    reads it), and truncation cuts only the recurrent path of h and c, as in the per-step graph.

    Returns (T + 1, B, H) states (row 0 the zero initial state, row t + 1 ``h_t``) and the (T, B, H)
    summaries. Grouped weights (leading dimension G) run a replicate group on (G*B, T, I) group-major inputs."""

    @staticmethod
    def forward(ctx, config, x, w_ih, w_hh, b_ih, b_hh, w_query, b_query, w_key, w):  # noqa: ANN001, ANN205
        _, k_att, k_top, max_mem = config
        b, t_len = x.shape[:2]
        h_size, key_size = w_hh.shape[-1], w_key.shape[-2]
        # memory j holds h at step (j + 1) k_att - 1; the last step's is never read
        bank = BankStorage(b, max((t_len - 1) // k_att, 1), h_size, key_size, like=x, zero=False)
        value_rows, key_rows = bank.values.unbind(1), bank.keys.unbind(1)
        states = x.new_empty(t_len + 1, b, h_size)  # row t: the state fed to step t, h_{t-1}
        states[0].zero_()
        provisional = x.new_empty(t_len, b, h_size)  # h'_t
        summaries = x.new_zeros(t_len, b, h_size)
        queries = x.new_empty(t_len, b, key_size)
        cell = LSTMSequence(x, (w_ih, w_hh, b_ih, b_hh), states[:-1])
        w_query_t, w_key_t = grouped.transposed(w_query), grouped.transposed(w_key)
        reads: list[tuple[int, int, Tensor, Tensor | None, Tensor | None]] = []  # start, stop, weights, flat, norm
        size = 0
        for t in range(t_len):
            h_prov = provisional[t]
            cell.step(t, h_prov)
            if t > 0 and t % k_att == 0:  # h_{t-1} as it is, before truncation: memories are not detached
                value_rows[size].copy_(states[t])
                grouped.mm(states[t], w_key_t, out=key_rows[size])
                size += 1
            if size == 0:
                states[t + 1].copy_(h_prov)
                continue
            start = 0 if max_mem is None else max(0, size - max_mem)
            query = grouped.linear(b_query, h_prov, w_query_t, out=queries[t])
            summary, a, _, flat, norm = sparse_attend(bank, query, w, k_top, start, size)
            summaries[t].copy_(summary)
            torch.add(h_prov, summary, out=states[t + 1])
            reads.append((start, size, a, flat, norm))
        ctx.config, ctx.cell, ctx.bank, ctx.size = config, cell, bank, size
        ctx.reads = [r[:2] for r in reads]
        per_read = [u for r in reads for u in r[2:] if u is not None]
        ctx.save_for_backward(w_query, w_key, w, states, provisional, queries, bank.saved, *cell.saved, *per_read)
        ctx.n_saved = len(per_read)
        # the cell (kept on ctx) reads views of ``states``: returning ``states`` itself would make a
        # reference cycle through the output's grad_fn that Python's collector cannot free (a leak of
        # every step's buffers), so the output is a copy
        return states.clone(), summaries

    @staticmethod
    @once_differentiable
    def backward(ctx, d_states, d_summaries):  # noqa: ANN001, ANN205
        k_trunc, k_att, k_top, _ = ctx.config
        saved = ctx.saved_tensors
        w_query, w_key, w, _, provisional, queries = saved[:6]
        per_read = iter(saved[len(saved) - ctx.n_saved :])
        cell: LSTMSequence = ctx.cell
        bank: BankStorage = ctx.bank
        need = ctx.needs_input_grad
        cell.begin_backward(x_grad=need[1])
        t_len = provisional.shape[0]
        first_read = t_len - len(ctx.reads)  # reads are the steps from the first memory on
        # the per-read tensors in forward's order, each read's weights then, if kept, flat and norm
        read_saved = []
        for start, stop in ctx.reads:
            weights = next(per_read)
            flat, norm = (next(per_read), next(per_read)) if stop - start > k_top else (None, None)
            read_saved.append((weights, flat, norm))
        d_queries = torch.zeros_like(queries)
        grad_w = torch.zeros_like(w)
        d_values = d_keys = None
        size = ctx.size
        d_h_carry: Tensor | None = None  # what h_t gets from step t + 1 (recurrence and memory)
        d_c: Tensor | None = None
        for t in range(t_len - 1, -1, -1):
            d_h = d_states[t + 1] if d_h_carry is None else d_h_carry.add_(d_states[t + 1])
            if t >= first_read:
                start, stop = ctx.reads[t - first_read]
                weights, flat, norm = read_saved[t - first_read]
                d_query, _ = sparse_attend_backward(
                    bank, queries[t], w, weights, flat, norm, start, stop, d_summaries[t] + d_h, grad_w
                )
                d_queries[t].copy_(d_query)
                d_h = grouped.addmm(d_h, d_query, w_query)  # d h'_t
            truncated = t % k_trunc == 0  # step 0's state is constant; later ones are detached
            d_state, d_c = cell.step_backward(t, d_h, d_c, state_grad=not truncated)
            if truncated:
                d_c = None
            d_h_carry = d_state
            if t > 0 and t % k_att == 0:  # step t stored h_{t-1}: its gradient is complete
                size -= 1
                if d_values is None:
                    d_values, d_keys = (g.unbind(1) for g in bank.grad_buffer())
                d_stored = grouped.addmm(d_values[size], d_keys[size], w_key)
                d_h_carry = d_stored if d_h_carry is None else d_h_carry.add_(d_stored)
        d_ih, d_hh, d_b_ih, d_b_hh = cell.weight_grads()
        d_w_query = d_b_query = d_w_key = None
        if ctx.reads:
            groups = cell.groups
            dq = grouped.group_major(d_queries[first_read:], groups)
            d_w_query = grouped.outer(dq, grouped.group_major(provisional[first_read:], groups), groups)
            d_b_query = grouped.row_sum(dq, groups)
            if need[8]:
                d_w_key = bank.key_weight_grad(ctx.size, groups)
        grads = (d_w_query, d_b_query, d_w_key, grad_w)
        return None, cell.input_grad(), d_ih, d_hh, d_b_ih, d_b_hh, *grads


# Opaque to TorchDynamo (the compile option, attnbench.measure.compiled): the node's forward writes into
# views of preallocated buffers, which Dynamo cannot trace; a compiled model runs it eagerly, as one node.
_sab_sequence = torch.compiler.disable(_SabSequence.apply)


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

    def group_forward(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """G replicates at once (see ``RecurrentVariant.group_forward``): ``params`` (G, *shape) stacks,
        x (G, B, T, I) -> logits (G, B, T, C), on the whole-sequence node."""
        g, b, t_len, _ = x.shape
        if g == 1:
            return grouped.run_alone(self, params, x)
        config = tuple(self.config[k] for k in ("k_trunc", "k_att", "k_top", "max_mem"))
        gates = tuple(params[f"cell.{name}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        names = ("query.weight", "query.bias", "key.weight", "score")
        weights = tuple(to_sigmoid_form(params[name]) for name in names)
        states, summaries = _sab_sequence(config, x.reshape(g * b, t_len, -1), *gates, *weights)
        both = torch.cat([states[1:], summaries], dim=2).transpose(0, 1)  # (G B, T, 2H)
        return grouped.group_head(params["head.weight"], params["head.bias"], both, g)

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t_len = self.check_input(x)
        k_trunc, k_att, k_top, max_mem = (self.config[k] for k in ("k_trunc", "k_att", "k_top", "max_mem"))
        cell = self.cell
        gates = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        # the scoring MLP in sigmoid form (attnbench.ops.scores), scaled once per pass
        w_query, b_query = to_sigmoid_form(self.query.weight), to_sigmoid_form(self.query.bias)
        w_key, w_score = to_sigmoid_form(self.key.weight), to_sigmoid_form(self.score)
        weights = (w_query, b_query, w_key, w_score)
        if not diagnostics:
            config = (k_trunc, k_att, k_top, max_mem)
            states, summaries = _sab_sequence(config, x, *gates, *weights)
            both = torch.cat([states[1:], summaries], dim=2).transpose(0, 1)  # (B, T, 2H)
            return VariantOutput(self.head(both))
        # memory j holds h at step (j + 1) k_att - 1; the last step's is never read
        bank = BankStorage(b, max((t_len - 1) // k_att, 1), self.hidden_size, w_key.shape[0], like=x, zero=False)
        run = _SabRun(bank, k_top, weights)
        h = c = zero = x.new_zeros(b, self.hidden_size)
        token = None
        hidden, summaries = [], []
        attn: list[Tensor | None] = []
        attended: list[Tensor | None] = []
        occupancy = []
        for t, x_t in enumerate(x.unbind(1)):
            stored = h  # h_{t-1} as it is, before truncation: memories are not detached
            if t > 0 and t % k_trunc == 0:
                h, c = h.detach(), c.detach()
            h_prov, c = torch.lstm_cell(x_t, (h, c), *gates)  # (B, H)
            append = t > 0 and t % k_att == 0
            size = run.size + int(append)
            start = 0 if max_mem is None else max(0, size - max_mem)
            if size > 0:
                new = stored if append else None
                first = () if token is not None else weights
                h, summary, token = _SabStep.apply(h_prov, new, token, run, start, *first)
                a, rows = run.weights, run.rows
            else:
                summary, a, rows, h = zero, None, None, h_prov
            hidden.append(h)
            summaries.append(summary)
            if diagnostics:
                attn.append(a)
                if rows is None and a is not None:
                    rows = torch.arange(start, start + a.shape[1], device=x.device).expand(b, -1)
                attended.append(None if rows is None else (rows + 1) * k_att - 1)  # memory row -> time step
                occupancy.append(size - start)
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
        full = sum(m for m in reads if m > k)  # scored in the no-grad pass, the top k + 1 taken from it
        soft = sum(m for m in reads if m <= k)  # k or fewer memories: softmax over all of them
        used = soft + (k + 1) * sum(1 for m in reads if m > k)  # rows that enter the weights
        read = FlopCount(
            forward=2.0 * b * (full * d + soft * d + used * h),
            backward=2.0 * b * used * (h + d),
        )
        stored = (t_len - 1) // p["k_att"]
        detached = 1 + truncation_starts(t_len, p["k_trunc"])
        return add_counts(
            lstm_cell_flops(shape, t_len - detached),
            linear_flops(b * len(reads), h, d),  # query
            bank_key_flops(b, stored, stored, h, d),  # stored when a later step reads it
            read,
            linear_flops(b * t_len, 2 * h, c),  # head
        )
