"""The recurrence shared by dense and rsm: an LSTM whose state input is an attention summary.

At step t, attend with query ``s_{t-1}`` over a set of past hidden states (additive scores
``e_i = v . tanh(W s_{t-1} + U h_i)``, softmax), form ``s_t = (h_{t-1} + c_t) / 2`` and feed
``[s_t ; x_t]`` into the LSTM gates (the "LSTM form" of the RSM paper, RelLSTM in its released code).
The first step attends over nothing and starts from ``s_0 = 0``. Subclasses choose the set (an
:class:`AttendedSet`): every past state (dense) or the short-term buffer plus the relevant set (rsm).

Speed. By default the whole sequence is one autograd node, :class:`_MemorySequence` (the shape of
``fused_recurrent`` in flash-linear-attention, https://github.com/fla-org/flash-linear-attention): its
forward loops over time without autograd, keeping the cell's gate activations and cell states
(:class:`~attnbench.ops.lstm_cell.LSTMSequence`), the queries, the attention weights and the bank of
stored states; its backward walks T-1, ..., 0 with the LSTM cell's backward written by hand beside the
attention's (:class:`AttendedSet`'s ``read_backward``). The gradient of ``h_{t-1}`` is complete once
step t's read is differentiated, because no earlier step reads it. Weight gradients (gates, W, U) are
a few large matrix products at the end instead of small ones per step. No step synchronises with the
device (no ``.item()``, no branching on tensor values).

With ``diagnostics=True`` every step's state must be a node of the graph (gradient reach), so the
recurrence runs one node per step instead, :class:`_AttendStep` (store ``h_{t-1}`` and its key, update
the set, project the query, attend, form ``s_t``) beside ``torch.lstm_cell`` under autograd, sharing
per-pass weight-gradient sums through :class:`~attnbench.ops.step_pass.StepPass`. Tests hold the two
paths to each other and to the per-example references.

Replicate groups (:meth:`MemoryLSTM.group_forward`) run the same node on a group's weights, each with
a leading dimension G, and ``(G*B, ...)`` group-major rows (:mod:`attnbench.ops.grouped`): the attended
sets work row by row as ever, and only the products against weights become batched products over G.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from attnbench.ops import grouped
from attnbench.ops.lstm_cell import LSTMSequence
from attnbench.ops.scores import to_sigmoid_form
from attnbench.ops.state_bank import BankStorage
from attnbench.ops.step_pass import StepPass
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


class AttendedSet:
    """The past states a :class:`MemoryLSTM` attends over, for one forward pass (no autograd).

    Row ``t`` of the bank holds ``h_t`` (value) and its key. Step ``t >= 1`` calls :meth:`update`
    for row ``t - 1`` (just written), then :meth:`read`; backward calls :meth:`read_backward` for
    t = T-1, ..., 1, in that order.
    """

    def __init__(self, bank: BankStorage) -> None:
        self.bank = bank

    def update(self, row: int, weights: Tensor | None) -> None:
        """Row ``row`` has just been stored; ``weights`` are the previous read's (None at row 0)."""

    def read(self, query: Tensor, v: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """Attend at step t with query (B, D) and score vector (D,), in sigmoid form
        (:mod:`attnbench.ops.scores`): summary (B, H) and weights (B, K)."""
        raise NotImplementedError

    def read_backward(
        self, t: int, query: Tensor, v: Tensor, weights: Tensor, d_summary: Tensor, grad_v: Tensor
    ) -> Tensor:
        """Backward of step t's read: add the rows' gradients into the bank's accumulator (row t - 1's
        must be complete on return) and d_v into ``grad_v``; return d_query."""
        raise NotImplementedError

    def attended(self, t: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """For diagnostics, after :meth:`read` at step t: the time steps of the K weights (B, K),
        -1 where a slot is empty, and how many states the set holds (B,)."""
        raise NotImplementedError


class _Run(StepPass):
    """:class:`StepPass` of the additive-attention LSTMs: also the set, the latest weights, W, U, v."""

    def __init__(self, bank: BankStorage, attended: AttendedSet, weights: tuple[Tensor, Tensor, Tensor]) -> None:
        super().__init__(bank)
        self.attended = attended
        self.weights: Tensor | None = None  # the latest read's
        self.w_query, self.w_key, self.v = (w.detach() for w in weights)
        self.query_trained = torch.is_grad_enabled() and weights[0].requires_grad

    def new_pass(self) -> None:
        d_values, d_keys = self.bank.grad_buffer()
        self.grad_rows = (d_values.unbind(1), d_keys.unbind(1))  # the bank's gradient, one view per row


class _AttendStep(torch.autograd.Function):
    """Step t >= 1 given h_{t-1} and s_{t-1}: returns s_t and leaves the weights in ``run.weights`` (see
    the module docstring). Step 1 also takes W, U and v, to hand autograd their gradients."""

    @staticmethod
    def forward(ctx, h, s, run, t, *_weights):  # noqa: ANN001, ANN002, ANN205
        run.store(t - 1, h, run.w_key)
        run.attended.update(t - 1, run.weights)
        query = torch.mm(s, run.w_query.t())
        summary, weights = run.attended.read(query, run.v, t)
        run.weights = weights
        ctx.run, ctx.t = run, t
        # step 1 also saves the bank, once, so that saved-tensor hooks (memory accounting) see it
        ctx.save_for_backward(s, query, weights, *((run.bank.saved,) if t == 1 else ()))
        return torch.add(h, summary).mul_(0.5)  # s_t = (h_{t-1} + c_t) / 2; the weights stay in run

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out):  # noqa: ANN001, ANN205
        run: _Run = ctx.run
        t = ctx.t
        s, query, weights = ctx.saved_tensors[:3]
        d_summary = d_out * 0.5
        query_grad, v_grad = run.grads(query, s, run.v)
        d_values, d_keys = run.grad_rows
        d_query = run.attended.read_backward(t, query, run.v, weights, d_summary, v_grad)
        # h_{t-1}'s row is complete: no earlier step reads it
        d_h = torch.addmm(d_summary, d_keys[t - 1], run.w_key).add_(d_values[t - 1])
        need = ctx.needs_input_grad
        d_s = d_query @ run.w_query if need[1] else None  # s_0 = 0 needs none
        if run.query_trained:
            query_grad.add(d_query, s)
        if t > 1:
            return d_h, d_s, None, None
        # step 1 runs last in backward: the weight gradients are complete
        d_w_query = query_grad.total()[0] if need[4] else None
        d_w_key = run.bank.key_weight_grad(run.bank.capacity) if need[5] else None
        return d_h, d_s, None, None, d_w_query, d_w_key, v_grad if need[6] else None


class _MemorySequence(torch.autograd.Function):
    """The whole recurrence in one autograd node (see the module docstring): forward loops over time
    keeping what backward needs, backward walks T-1, ..., 0 with the LSTM cell's backward by hand.

    Returns the hidden states (T, B, H). Grouped weights (leading dimension G) run a replicate group on
    (G*B, T, I) group-major inputs."""

    @staticmethod
    def forward(ctx, make_set, x, w_ih, w_hh, b_ih, b_hh, w_query, w_key, v):  # noqa: ANN001, ANN205
        b, t_len = x.shape[:2]
        h_size = w_hh.shape[-1]
        # h_{T-1} is never read; step t writes row t - 1 before any read of it
        bank = BankStorage(b, max(t_len - 1, 1), h_size, h_size, like=x, zero=False)
        attended: AttendedSet = make_set(bank)
        value_rows, key_rows = bank.values.unbind(1), bank.keys.unbind(1)
        states = x.new_empty(t_len, b, h_size)  # s_t, the state fed to step t's cell
        states[0].zero_()
        queries = x.new_empty(t_len, b, h_size)
        hidden = x.new_empty(t_len, b, h_size)
        cell = LSTMSequence(x, (w_ih, w_hh, b_ih, b_hh), states)
        w_query_t, w_key_t = grouped.transposed(w_query), grouped.transposed(w_key)
        weights: list[Tensor] = []
        for t in range(t_len):
            if t > 0:
                h = hidden[t - 1]
                value_rows[t - 1].copy_(h)
                grouped.mm(h, w_key_t, out=key_rows[t - 1])
                attended.update(t - 1, weights[-1] if weights else None)
                query = grouped.mm(states[t - 1], w_query_t, out=queries[t])
                summary, a = attended.read(query, v, t)
                weights.append(a)
                torch.add(h, summary, out=states[t]).mul_(0.5)  # s_t = (h_{t-1} + c_t) / 2
            cell.step(t, hidden[t])
        ctx.attended, ctx.cell, ctx.n_weights = attended, cell, len(weights)
        ctx.save_for_backward(w_query, w_key, v, states, queries, bank.saved, *cell.saved, *weights)
        return hidden

    @staticmethod
    @once_differentiable
    def backward(ctx, d_hidden):  # noqa: ANN001, ANN205
        w_query, w_key, v, states, queries = ctx.saved_tensors[:5]
        weights = ctx.saved_tensors[len(ctx.saved_tensors) - ctx.n_weights :]
        attended: AttendedSet = ctx.attended
        cell: LSTMSequence = ctx.cell
        bank = attended.bank
        need = ctx.needs_input_grad
        cell.begin_backward(x_grad=need[1])
        t_len = states.shape[0]
        d_queries = torch.zeros_like(queries)
        grad_v = torch.zeros_like(v)
        d_values = d_keys = None
        d_h_carry: Tensor | None = None  # what h_t gets from step t + 1
        d_s_carry: Tensor | None = None  # what s_t gets from step t + 1's query
        d_c: Tensor | None = None
        for t in range(t_len - 1, -1, -1):
            d_h = d_hidden[t] if d_h_carry is None else d_h_carry.add_(d_hidden[t])
            d_s, d_c = cell.step_backward(t, d_h, d_c, state_grad=t > 0)  # s_0 = 0 needs none
            if t == 0:
                break
            if d_s_carry is not None:
                d_s.add_(d_s_carry)
            d_summary = d_s.mul_(0.5)
            d_query = attended.read_backward(t, queries[t], v, weights[t - 1], d_summary, grad_v)
            d_queries[t].copy_(d_query)
            d_s_carry = grouped.mm(d_query, w_query) if t > 1 else None
            if d_values is None:
                d_values, d_keys = (g.unbind(1) for g in bank.grad_buffer())
            # h_{t-1}'s row is complete: no earlier step reads it
            d_h_carry = grouped.addmm(d_summary, d_keys[t - 1], w_key).add_(d_values[t - 1])
        d_ih, d_hh, d_b_ih, d_b_hh = cell.weight_grads()
        groups = cell.groups
        d_w_query = None
        if need[6]:
            d_q, s = (grouped.group_major(u, groups) for u in (d_queries[1:], states[:-1]))
            d_w_query = grouped.outer(d_q, s, groups)
        d_w_key = bank.key_weight_grad(bank.capacity, groups) if need[7] and t_len > 1 else None
        return None, cell.input_grad(), d_ih, d_hh, d_b_ih, d_b_hh, d_w_query, d_w_key, grad_v


# Opaque to TorchDynamo (the compile option, attnbench.measure.compiled): the node's forward writes into
# views of preallocated buffers, which Dynamo cannot trace; a compiled model runs it eagerly, as one node.
_memory_sequence = torch.compiler.disable(_MemorySequence.apply)


class MemoryLSTM(RecurrentVariant):
    """Base of the additive-attention LSTMs; subclasses implement :meth:`attended_set`."""

    def build(self) -> None:
        h = self.hidden_size
        self.cell = nn.LSTMCell(self.input_size, h)  # gates read [s_t ; x_t]
        self.query = nn.Linear(h, h, bias=False)  # W, applied to s_{t-1}
        self.key = nn.Linear(h, h, bias=False)  # U, applied to each stored h_i
        self.score = nn.Parameter(torch.randn(h) / math.sqrt(h))  # v
        self.head = nn.Linear(h, self.output_size)

    def attended_set(self, bank: BankStorage) -> AttendedSet:
        """The set attended over in one forward pass whose states are stored in ``bank``."""
        raise NotImplementedError

    def group_forward(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """G replicates at once (see ``RecurrentVariant.group_forward``): ``params`` (G, *shape) stacks,
        x (G, B, T, I) -> logits (G, B, T, C), on the whole-sequence node."""
        g, b, t_len, _ = x.shape
        if g == 1:
            return grouped.run_alone(self, params, x)
        gates = tuple(params[f"cell.{name}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        weights = tuple(to_sigmoid_form(params[name]) for name in ("query.weight", "key.weight", "score"))
        hidden = _memory_sequence(self.attended_set, x.reshape(g * b, t_len, -1), *gates, *weights)  # (T, G B, H)
        return grouped.group_head(params["head.weight"], params["head.bias"], hidden.transpose(0, 1), g)

    def forward(self, x: Tensor, *, diagnostics: bool = False) -> VariantOutput:
        b, t_len = self.check_input(x)
        cell = self.cell
        gates = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        # the scores in sigmoid form (attnbench.ops.scores), scaled once per pass
        weights = tuple(to_sigmoid_form(p) for p in (self.query.weight, self.key.weight, self.score))
        if not diagnostics:
            hidden = _memory_sequence(self.attended_set, x, *gates, *weights)  # (T, B, H)
            return VariantOutput(self.head(hidden.transpose(0, 1)))
        # h_{T-1} is never read; step t writes row t - 1 before any read of it
        bank = BankStorage(b, max(t_len - 1, 1), self.hidden_size, self.hidden_size, like=x, zero=False)
        run = _Run(bank, self.attended_set(bank), weights)
        h = s = c = x.new_zeros(b, self.hidden_size)
        hidden: list[Tensor] = []
        record: tuple[list, list, list] = ([], [], [])
        for t, x_t in enumerate(x.unbind(1)):
            if t > 0:
                s = _AttendStep.apply(h, s, run, t, *(weights if t == 1 else ()))
                if diagnostics:
                    record[0].append(run.weights)
                    for store, item in zip(record[1:], run.attended.attended(t, h)):
                        store.append(item)
            h, c = torch.lstm_cell(x_t, (s, c), *gates)  # gates read [s_t ; x_t]
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
        the two matching products and the query's gradient, ``sum_i dscore_i v sigma'_i`` (B K H);
        one key ``U h_t`` per step; gate cell with the state gradient from step 1 on; head.
        """
        b, t, h = shape.batch, shape.seq_len, shape.hidden_size
        reads = sum(1 for k in slots_per_step if k > 0)
        slots = sum(slots_per_step)
        query_fwd = 2.0 * b * reads * h * h
        query = FlopCount(query_fwd, query_fwd + 2.0 * b * max(reads - 1, 0) * h * h)
        attention = FlopCount(2.0 * b * slots * (h + h), 2.0 * b * slots * (h + h + h))
        return add_counts(
            lstm_cell_flops(shape, t - 1),
            query,
            attention,
            bank_key_flops(b, t - 1, t - 1, h, h),  # h_t is stored (and read) from step t + 1 on; the last never
            linear_flops(b * t, h, shape.output_size),  # head
        )
