"""An LSTM cell run over a whole sequence without autograd, and its backward written by hand.

For recurrences that wrap ``torch.lstm_cell`` in something of their own (attention between steps)
and run the whole sequence in one autograd node (:mod:`attnbench.ops.recurrence`): the node's forward
calls :meth:`LSTMSequence.step` for t = 0, ..., T-1 and its backward :meth:`LSTMSequence.step_backward`
for t = T-1, ..., 0. Per step that is one matrix product each way (``s_{t-1} W_hh^T`` forward, ``dG_t
W_hh`` backward, the latter only where the state carries gradient); the input projection of every step
is one product before the loop, and the weight gradients are a few large products (one per ``chunk``
steps) instead of three small ones per step.

Numerics and FLOPs are those of ``torch.lstm_cell`` (gate order i, f, g, o; ``c_t = f c_{t-1} + i g``,
``h_t = o tanh(c_t)``). Internally the gates are kept in the order i, f, o, g, so that one sigmoid and
one tanh cover them.

Replicate groups (:mod:`attnbench.ops.grouped`): weights with a leading dimension G, ``(G, 4H, I)``
and so on, run G cells at once on ``(G*B, ...)`` group-major rows; every product against a weight is
then one batched product over G, and the weight gradients are ``(G, ...)`` stacks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops import grouped


class LSTMSequence:
    """Forward and backward of ``torch.lstm_cell`` over a sequence, without autograd.

    Args:
        x: (B, T, I) inputs.
        weights: ``(w_ih, w_hh, b_ih, b_hh)`` as in ``torch.lstm_cell`` (4H, I), (4H, H), (4H,), (4H,); or
            a replicate group's, (G, 4H, I), (G, 4H, H), (G, 4H), (G, 4H), with x (G*B, T, I) group-major.
        states: (T, B, H), the state fed to step t (``h_{t-1}`` in a plain LSTM, ``s_t`` in an attention
            LSTM); the caller fills row t before :meth:`step` (t) and leaves it unchanged until backward
            has finished, which reads it for W_hh's gradient.
        chunk: steps per weight-gradient product in backward.

    Keeps for backward (T, B, 4H) gate activations and (T, B, H) cell states and their tanh:
    :attr:`saved` lists them, for the owning node to save (so that saved-tensor hooks see them).
    """

    def __init__(
        self, x: Tensor, weights: tuple[Tensor, Tensor, Tensor, Tensor], states: Tensor, chunk: int = 64
    ) -> None:
        w_ih, w_hh, b_ih, b_hh = weights
        b, t_len, i = x.shape
        h = w_hh.shape[-1]
        self.groups = groups = grouped.groups_of(w_hh)
        self.hidden = h
        self.states = states
        self.chunk = chunk
        # gate rows i, f, g, o -> i, f, o, g
        dev = x.device  # built on the device: a host-to-device copy here would synchronise
        order = (
            torch.arange(0, 2 * h, device=dev),
            torch.arange(3 * h, 4 * h, device=dev),
            torch.arange(2 * h, 3 * h, device=dev),
        )
        self._perm = torch.cat(order)
        self.w_ih, self.w_hh = w_ih.index_select(-2, self._perm), w_hh.index_select(-2, self._perm)
        self._w_hh_t = grouped.transposed(self.w_hh)
        bias = (b_ih + b_hh).index_select(-1, self._perm)
        # every step's input projection and bias in one product; step t adds its state's projection in place
        if groups is None:
            self.x = x.transpose(0, 1).reshape(t_len * b, i)  # (T B, I), step-major
            self.acts = torch.addmm(bias, self.x, self.w_ih.t()).view(t_len, b, 4 * h)
        else:  # x as (G, T B, I), step-major within each replicate; the gates (T, G B, 4H) as ever
            n = b // groups
            self.x = x.view(groups, n, t_len, i).transpose(1, 2).reshape(groups, t_len * n, i)
            acts = torch.baddbmm(bias.unsqueeze(1), self.x, self.w_ih.mT)  # (G, T n, 4H)
            self.acts = acts.view(groups, t_len, n, 4 * h).transpose(0, 1).reshape(t_len, b, 4 * h)
        self.cells = x.new_empty(t_len, b, h)
        self.tanh_cells = x.new_empty(t_len, b, h)
        self._zero = x.new_zeros(b, h)
        self._grads: tuple[Tensor, Tensor, Tensor] | None = None
        # per-step views made once (unbind: one call for all steps, instead of slicing in every step)
        a = self.acts
        self._rows = _views(a, states, a[..., : 3 * h], a[..., 3 * h :], a[..., :h], a[..., h : 2 * h])
        self._rows += _views(a[..., 2 * h : 3 * h], self.cells, self.tanh_cells)
        self._c_prev = [self._zero, *self._rows[7][:-1]]  # c_{t-1}, zero before step 0

    @property
    def saved(self) -> tuple[Tensor, ...]:
        """What backward reads: the gate activations, cell states and their tanh."""
        return self.acts, self.cells, self.tanh_cells

    def step(self, t: int, out: Tensor) -> None:
        """Step t: read ``states[t]`` and the previous cell state, write ``h_t`` into ``out`` (B, H)."""
        a, state, sig, g, i, f, o, c, tc = (rows[t] for rows in self._rows)
        grouped.addmm_(a, state, self._w_hh_t)
        sig.sigmoid_()  # i, f, o
        g.tanh_()
        torch.mul(f, self._c_prev[t], out=c)
        c.addcmul_(i, g)  # c_t = f c_{t-1} + i g
        torch.mul(o, torch.tanh(c, out=tc), out=out)

    # ----- backward -----------------------------------------------------------------------------------

    def begin_backward(self, x_grad: bool = False) -> None:
        """Start a backward pass (fresh weight-gradient sums); ``x_grad``: also the inputs' gradient."""
        b, h = self._zero.shape
        like = self.acts
        lead = () if self.groups is None else (self.groups,)
        self._grads = (
            like.new_zeros(*lead, 4 * h, self.x.shape[-1]),
            like.new_zeros(*lead, 4 * h, h),
            like.new_zeros(*lead, 4 * h),
        )
        d = self._d_gates = like.new_empty(self.chunk, b, 4 * h)
        self._d_rows = _views(d, d[..., :h], d[..., h : 2 * h], d[..., 2 * h : 3 * h], d[..., 3 * h :], d[..., : 3 * h])
        self._d_x = like.new_empty(self.x.shape) if x_grad else None

    def step_backward(self, t: int, d_h: Tensor, d_c: Tensor | None, state_grad: bool) -> tuple[Tensor | None, Tensor]:
        """Backward of step t given ``d h_t`` and ``d c_t`` (None: zero); returns ``d states[t]`` (None unless
        ``state_grad``) and ``d c_{t-1}``. Steps must go T-1, ..., 0, each exactly once."""
        _, _, sig, g, i, f, o, _, tc = (rows[t] for rows in self._rows)
        row = t % self.chunk
        d_a, d_i, d_f, d_o, d_g, d_sig = (rows[row] for rows in self._d_rows)
        # d c_t = d_c + d_h o (1 - tanh^2 c_t)
        d_cell = torch.ops.aten.tanh_backward(d_h * o, tc)
        if d_c is not None:
            d_cell.add_(d_c)
        torch.mul(d_cell, g, out=d_i)
        torch.mul(d_cell, self._c_prev[t], out=d_f)
        torch.mul(d_h, tc, out=d_o)
        torch.mul(d_cell, i, out=d_g)
        d_c_prev = d_cell.mul_(f)
        torch.ops.aten.sigmoid_backward.grad_input(d_sig, sig, grad_input=d_sig)
        torch.ops.aten.tanh_backward.grad_input(d_g, g, grad_input=d_g)
        d_state = grouped.mm(d_a, self.w_hh) if state_grad else None
        if row == 0:
            self._flush(t)
        return d_state, d_c_prev

    def _flush(self, start: int) -> None:
        """Weight gradients of steps ``start .. start + n - 1`` (the chunk just completed)."""
        d_ih, d_hh, d_b = self._grads
        n = min(self.chunk, self.states.shape[0] - start)
        b = self._zero.shape[0]
        groups = self.groups
        if groups is None:
            d_a = self._d_gates[:n].view(n * b, -1)
            rows = slice(start * b, (start + n) * b)
            d_ih.addmm_(d_a.t(), self.x[rows])
            d_hh.addmm_(d_a.t(), self.states[start : start + n].reshape(n * b, -1))
            d_b.add_(d_a.sum(0))
            if self._d_x is not None:
                torch.mm(d_a, self.w_ih, out=self._d_x[rows])
            return
        # each replicate's rows of the chunk together: (G, n B', F)
        d_a = grouped.group_major(self._d_gates[:n], groups).view(groups, -1, 4 * self.hidden)
        states = grouped.group_major(self.states[start : start + n], groups).view(groups, -1, self.hidden)
        per = b // groups
        rows = slice(start * per, (start + n) * per)
        d_ih.baddbmm_(d_a.transpose(1, 2), self.x[:, rows])
        d_hh.baddbmm_(d_a.transpose(1, 2), states)
        d_b.add_(d_a.sum(1))
        if self._d_x is not None:
            self._d_x[:, rows] = torch.bmm(d_a, self.w_ih)

    def weight_grads(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """After step 0's backward: d w_ih, d w_hh, d b_ih, d b_hh, in torch's gate order."""
        inverse = torch.empty_like(self._perm)
        inverse[self._perm] = torch.arange(len(self._perm), device=self._perm.device)
        d_ih, d_hh = (g.index_select(-2, inverse) for g in self._grads[:2])
        d_b = self._grads[2].index_select(-1, inverse)
        return d_ih, d_hh, d_b, d_b.clone()

    def input_grad(self) -> Tensor | None:
        """After step 0's backward, when asked for in :meth:`begin_backward`: d x (B, T, I)."""
        if self._d_x is None:
            return None
        t_len, i = self.states.shape[0], self._d_x.shape[-1]
        if self.groups is None:
            return self._d_x.view(t_len, -1, i).transpose(0, 1)
        return self._d_x.view(self.groups, t_len, -1, i).transpose(1, 2).reshape(-1, t_len, i)


def _views(*tensors: Tensor) -> list[list[Tensor]]:
    """Each tensor's rows along dim 0, as a list of views."""
    return [list(t.unbind(0)) for t in tensors]


__all__ = ["LSTMSequence"]
