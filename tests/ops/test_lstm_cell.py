"""LSTMSequence (the LSTM cell over a sequence, backward by hand) against torch.lstm_cell under autograd."""

from __future__ import annotations

import pytest
import torch

from attnbench.ops.lstm_cell import LSTMSequence


def _reference(x, weights, cut):
    b, t_len, _ = x.shape
    h = c = x.new_zeros(b, weights[1].shape[1])
    hidden = []
    for t in range(t_len):
        if t in cut:
            h, c = h.detach(), c.detach()
        h, c = torch.lstm_cell(x[:, t], (h, c), *weights)
        hidden.append(h)
    return torch.stack(hidden, 0)  # (T, B, H)


@pytest.mark.parametrize("chunk", [64, 3])
@pytest.mark.parametrize("cut", [(), (4, 8)], ids=["full", "truncated"])
def test_forward_and_backward_match_lstm_cell(chunk, cut):
    torch.manual_seed(0)
    b, t_len, i, h = 3, 11, 5, 4
    x = torch.randn(b, t_len, i, dtype=torch.float64, requires_grad=True)
    weights = [torch.randn(4 * h, i), torch.randn(4 * h, h), torch.randn(4 * h), torch.randn(4 * h)]
    weights = [w.double().requires_grad_() for w in weights]
    want = _reference(x, weights, set(cut))
    d_out = torch.randn_like(want)
    want_grads = torch.autograd.grad(want, [x, *weights], d_out)

    with torch.no_grad():
        states = x.new_empty(t_len, b, h)
        states[0].zero_()
        hidden = x.new_empty(t_len, b, h)
        seq = LSTMSequence(x, tuple(weights), states, chunk=chunk)
        for t in range(t_len):
            seq.step(t, hidden[t])
            if t + 1 < t_len:
                states[t + 1].copy_(hidden[t])
        torch.testing.assert_close(hidden, want)
        seq.begin_backward(x_grad=True)
        carry, d_c = None, None
        for t in range(t_len - 1, -1, -1):
            d_h = d_out[t] if carry is None else carry + d_out[t]
            detached = t == 0 or t in cut
            carry, d_c = seq.step_backward(t, d_h, d_c, state_grad=not detached)
            if detached:
                d_c = None
        got = (seq.input_grad(), *seq.weight_grads())
    for g, w, name in zip(got, want_grads, ["x", "w_ih", "w_hh", "b_ih", "b_hh"]):
        torch.testing.assert_close(g, w, msg=lambda m, n=name: f"{n}: {m}")


def _run(seq_x, weights, cut, chunk, d_out):
    """Forward and backward of LSTMSequence (no autograd): hidden, d x and the weight gradients."""
    b, t_len, _ = seq_x.shape
    h = weights[1].shape[-1]
    states = seq_x.new_zeros(t_len + 1, b, h)
    seq = LSTMSequence(seq_x, tuple(weights), states[:-1], chunk=chunk)
    for t in range(t_len):
        seq.step(t, states[t + 1])
    seq.begin_backward(x_grad=True)
    carry, d_c = None, None
    for t in range(t_len - 1, -1, -1):
        d_h = d_out[t] if carry is None else carry + d_out[t]
        detached = t == 0 or t in cut
        carry, d_c = seq.step_backward(t, d_h, d_c, state_grad=not detached)
        if detached:
            d_c = None
    return states[1:].clone(), seq.input_grad(), *seq.weight_grads()


@pytest.mark.parametrize("chunk", [64, 3])
def test_grouped_weights_run_each_replicate_as_alone(chunk):
    """3-D weights: G cells on (G*B, ...) group-major rows, each exactly the cell of its weights alone."""
    torch.manual_seed(0)
    g, b, t_len, i, h = 3, 2, 9, 5, 4
    x = torch.randn(g, b, t_len, i, dtype=torch.float64)
    weights = [torch.randn(g, 4 * h, i), torch.randn(g, 4 * h, h), torch.randn(g, 4 * h), torch.randn(g, 4 * h)]
    weights = [w.double() for w in weights]
    d_out = torch.randn(t_len, g * b, h, dtype=torch.float64)
    with torch.no_grad():
        got = _run(x.reshape(g * b, t_len, i), weights, {4}, chunk, d_out)
        for r in range(g):
            rows = slice(r * b, (r + 1) * b)
            want = _run(x[r], [w[r] for w in weights], {4}, chunk, d_out[:, rows])
            torch.testing.assert_close(got[0][:, rows], want[0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(got[1][rows], want[1], rtol=1e-12, atol=1e-12)
            for grad, alone in zip(got[2:], want[2:]):
                torch.testing.assert_close(grad[r], alone, rtol=1e-12, atol=1e-12)
