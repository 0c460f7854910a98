"""What the per-step autograd nodes of one forward pass share: the public contract for variants that
run one hand-written node per step over a :class:`~attnbench.ops.state_bank.BankStorage`.

The built-ins use it on their per-step path (``forward(x, diagnostics=True)``, where every step's state
must be a node of the autograd graph); their default path runs the whole sequence in one node
(:mod:`attnbench.ops.lstm_cell`). The contract a plugin may rely on:

- :class:`StepPass` (bank): ``bank``, ``value_rows`` / ``key_rows`` (one (B, F) view per row),
  :meth:`StepPass.store` (write a row and its projected key), :meth:`StepPass.grads` (per backward pass:
  the query layer's :class:`OuterSum` and a zeroed vector gradient, created at the pass's first node),
  and the :meth:`StepPass.new_pass` hook.
- :class:`OuterSum`: ``sum_t a_t^T b_t`` in one matrix product per ``chunk`` steps.

Backward passes are told apart by autograd's graph-task id (:func:`attnbench.ops.state_bank.graph_task_id`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops.state_bank import BankStorage, graph_task_id


class OuterSum:
    """``sum_t a_t^T b_t`` over many steps, one matrix product per ``chunk`` steps instead of one each;
    also ``sum_t a_t`` summed over rows (the gradient of a bias beside that of the weight)."""

    def __init__(self, a: Tensor, b: Tensor, chunk: int = 64) -> None:
        self._a = a.new_empty(chunk, *a.shape)
        self._b = b.new_empty(chunk, *b.shape)
        self._n = 0
        self._total: Tensor | None = None
        self._a_sum: Tensor | None = None

    def add(self, a: Tensor, b: Tensor) -> None:
        self._a[self._n].copy_(a)
        self._b[self._n].copy_(b)
        self._n += 1
        if self._n == self._a.shape[0]:
            self._flush()

    def _flush(self) -> None:
        if self._n:
            a = self._a[: self._n].reshape(-1, self._a.shape[-1])
            b = self._b[: self._n].reshape(-1, self._b.shape[-1])
            self._total = a.t() @ b if self._total is None else self._total.addmm_(a.t(), b)
            self._a_sum = a.sum(0) if self._a_sum is None else self._a_sum.add_(a.sum(0))
            self._n = 0

    def total(self) -> tuple[Tensor | None, Tensor | None]:
        """``sum_t a_t^T b_t`` and ``sum_t a_t.sum(0)``; None if nothing was added."""
        self._flush()
        return self._total, self._a_sum


class StepPass:
    """What the step nodes of one forward pass share (memory_lstm's and sab's): the bank with a view
    of each row, and the weight-gradient sums of the backward pass now running. Holds no tensor that
    is part of the graph (no reference cycles): weights are kept detached, and only the first node
    takes them as inputs, since only it hands their gradients to autograd (fewer inputs per node)."""

    def __init__(self, bank: BankStorage) -> None:
        self.bank = bank
        self.value_rows, self.key_rows = bank.values.unbind(1), bank.keys.unbind(1)  # (B, H) views, one per row
        self._task: int | None = None

    def store(self, row: int, h: Tensor, w_key: Tensor) -> None:
        """Write ``h`` and its key ``h @ w_key.T`` into bank row ``row``."""
        self.value_rows[row].copy_(h)
        torch.mm(h, w_key.t(), out=self.key_rows[row])

    def grads(self, d_query: Tensor, x: Tensor, vector: Tensor) -> tuple[OuterSum, Tensor]:
        """For the backward pass now running (created at its first step): the sum of the query layer's
        gradients (outer products of d_query and its input ``x``) and a zeroed gradient like ``vector``."""
        task = graph_task_id()
        if self._task != task:
            self._task = task
            self._query_grad = OuterSum(d_query, x)
            self._vector_grad = torch.zeros_like(vector)
            self.new_pass()
        return self._query_grad, self._vector_grad

    def new_pass(self) -> None:
        """Hook: a backward pass starts."""


__all__ = ["OuterSum", "StepPass"]
