"""An append-only store of past states whose gradients are gathered by the reads.

Attention over the past in a recurrent loop usually rebuilds a ``(B, t, F)`` tensor of past states at
every step (``torch.cat``) and lets autograd keep each copy for backward: O(T^2) memory and O(T^2)
copying. :class:`StateBank` instead writes each state once into a preallocated ``(B, N, F)`` buffer.
Reads (:mod:`~attnbench.ops.additive_read`, :mod:`~attnbench.ops.slot_read`,
:mod:`~attnbench.ops.sparse_read`) are custom autograd functions that look at the buffer without
copying it and, in backward, add their gradient for the rows they used into a per-backward
accumulator. The append of row ``i`` is itself an autograd function whose backward runs after every
read that could see row ``i`` (each read depends on the latest append's token, and each append on the
one before), and hands the accumulated row gradient on to the tensors that produced the row.

Each row holds a *value* (what attention returns) and a *key* (what scores are computed from), side by
side in one vector. The built-in variants use :class:`BankStorage` directly from step nodes of their
own that store, read and differentiate in one node per step (see
:mod:`attnbench.variants.memory_lstm`); :class:`StateBank` and its reads are the general building
blocks for plugins.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.ops.scores import Scratch

_TASK_ID = getattr(torch._C, "_current_graph_task_id", None)  # private torch API, guarded below


def graph_task_id() -> int:
    """The running backward pass's id (autograd's graph task), to key per-pass gradient buffers.

    Uses torch's private ``torch._C._current_graph_task_id``; raises RuntimeError, rather than returning
    a constant that would silently mix the sums of two backward passes, where torch lacks it.
    """
    if _TASK_ID is None:
        raise RuntimeError(
            f"torch {torch.__version__} lacks torch._C._current_graph_task_id, which attnbench's per-step "
            "backward (StateBank reads, diagnostics=True) needs to tell backward passes apart"
        )
    return _TASK_ID()


class BankStorage:
    """The tensors of a :class:`StateBank`: the rows and their per-backward gradient accumulators.

    A row is one contiguous ``value_dim + key_dim`` vector, value first: :attr:`data` (B, N, value_dim +
    key_dim), with :attr:`values` and :attr:`keys` as views of its two parts. One tensor rather than
    two halves the number of copies, gathers and scatters of whole rows (the slot memory of rsm moves
    rows every step, in both passes). Autograd nodes keep a reference to this, never to the
    :class:`StateBank` itself, which holds the latest append's token: a node -> bank -> token -> node
    cycle would keep every graph alive.
    """

    def __init__(
        self, batch: int, capacity: int, value_dim: int, key_dim: int, like: Tensor, *, zero: bool = True
    ) -> None:
        self.batch = batch
        self.capacity = capacity
        self.value_dim = value_dim
        self.key_dim = key_dim
        # zero=False leaves unwritten rows undefined: for callers that never read a row before writing it
        # (filling hundreds of megabytes with zeros every pass costs a tenth of rsm's step at batch 256)
        shape = (batch, capacity, value_dim + key_dim)
        self._tensor = like.new_zeros(shape) if zero else like.new_empty(shape)
        # Whether grad() must start from zeros. A reader that hands each row's complete gradient over
        # at once, and is the only reader (rsm's slots), clears it and copies instead of adding.
        self.zero_grad = True
        # Writes go through a .data alias, which has its own version counter: rows are written once and
        # never changed afterwards, so the version check on a saved reference would only get in the way.
        self.data = self._tensor.data
        self.values, self.keys = self.data[..., :value_dim], self.data[..., value_dim:]
        self.data_2d = self.data.view(-1, value_dim + key_dim)  # row r of example b is row b * capacity + r
        self.values_2d = self.data_2d[:, :value_dim]
        # row r of example b is row b * capacity + r of the bank viewed as (B * N, F)
        self.offsets = torch.arange(0, batch * capacity, capacity, device=like.device).unsqueeze(1)  # (B, 1)
        self._grad: Tensor | None = None
        self._grad_task: int | None = None
        self.scratch = Scratch(self.data)  # the reads' (B, K, D) temporaries, reused step after step

    @property
    def saved(self) -> Tensor:
        """The buffer as one tensor, for a node to save once so that saved-tensor hooks (memory
        accounting) see what the reads keep."""
        return self._tensor

    def write(self, index: int, value: Tensor, key: Tensor) -> None:
        """Store row ``index`` of every example."""
        self.values[:, index] = value.detach()
        self.keys[:, index] = key.detach()

    def flat(self, index: Tensor) -> Tensor:
        """(B, K) row indices -> (B * K,) indices into the bank viewed as (B * N, F)."""
        return (index + self.offsets).view(-1)

    def gather(self, flat: Tensor, shape: torch.Size) -> Tensor:
        """Copies of whole rows (values and keys) at :meth:`flat` indices, shaped ``shape + (F,)``
        (torch.gather with an expanded index is several times slower)."""
        return self.data_2d.index_select(0, flat).view(*shape, -1)

    def rows(self, flat: Tensor, shape: torch.Size) -> tuple[Tensor, Tensor]:
        """Values and keys of :meth:`gather`, as views of one copy."""
        both = self.gather(flat, shape)
        return both[..., : self.value_dim], both[..., self.value_dim :]

    def grad(self) -> Tensor:
        """Gradient accumulator of whole rows (B, N, F) for the backward pass now running, zeroed once
        per pass."""
        task = graph_task_id()
        if self._grad is None or self._grad_task != task:
            self._grad = torch.zeros_like(self.data) if self.zero_grad else torch.empty_like(self.data)
            self._grad_task = task
        return self._grad

    def grad_2d(self) -> Tensor:
        """:meth:`grad` viewed as (B * N, F), indexed like :meth:`flat`."""
        grad = self.grad()
        return grad.view(-1, grad.shape[-1])

    def grad_buffer(self) -> tuple[Tensor, Tensor]:
        """:meth:`grad` as views of its values and keys parts."""
        grad = self.grad()
        return grad[..., : self.value_dim], grad[..., self.value_dim :]

    def key_weight_grad(self, rows: int, groups: int | None = None) -> Tensor:
        """Gradient of a ``key = value @ key_weight.T`` projection over the first ``rows`` rows, once every
        key gradient of this backward pass is complete: one matrix multiply for all of them. With
        ``groups`` G (a replicate group's bank, examples group-major): (G, key_dim, value_dim), one per
        replicate."""
        d_keys, values = self.grad_buffer()[1][:, :rows], self.values[:, :rows]
        if groups is None:
            return d_keys.reshape(-1, self.key_dim).t() @ values.reshape(-1, self.value_dim)
        d_keys, values = d_keys.reshape(groups, -1, self.key_dim), values.reshape(groups, -1, self.value_dim)
        return torch.bmm(d_keys.transpose(1, 2), values)


class StateBank:
    """Preallocated, append-only store of past states: values (B, capacity, value_dim) and keys
    (B, capacity, key_dim).

    Rows are written once and never modified, so a read can keep a reference to the buffer for its
    backward instead of a copy. Gradients for the rows are accumulated per backward pass (keyed by
    autograd's graph-task id), so repeated or partial backward passes never see stale sums.

    Attributes:
        storage: the tensors (:class:`BankStorage`); what autograd nodes may keep.
        size: rows written so far.
        token: output of the latest append, to be passed to every read (orders backward).
    """

    def __init__(
        self, batch: int, capacity: int, value_dim: int, key_dim: int, *, like: Tensor, key_weight: Tensor | None = None
    ) -> None:
        self.storage = BankStorage(batch, capacity, value_dim, key_dim, like)
        self.batch, self.capacity, self.value_dim, self.key_dim = batch, capacity, value_dim, key_dim
        self.key_weight = key_weight
        self.size = 0
        self.token: Tensor | None = None

    @property
    def values(self) -> Tensor:
        """(B, capacity, value_dim), detached; rows past :attr:`size` are zero."""
        return self.storage.values

    @property
    def keys(self) -> Tensor:
        """(B, capacity, key_dim), detached; rows past :attr:`size` are zero."""
        return self.storage.keys

    def append(self, value: Tensor, key: Tensor | None = None) -> int:
        """Write one row and return its index: ``value`` (B, value_dim) and ``key`` (B, key_dim).

        A bank built with ``key_weight`` (key_dim, value_dim) computes ``key = value @ key_weight.T``
        itself: one autograd node per row instead of two, and the weight's gradient is one matrix
        multiply over all rows at the end of backward instead of one per row.
        """
        if self.size >= self.capacity:
            raise RuntimeError(f"StateBank is full ({self.capacity} rows)")
        if (key is None) == (self.key_weight is None):
            raise ValueError("pass key exactly when the bank has no key_weight")
        index = self.size
        grad = torch.is_grad_enabled()
        if key is None:
            if grad and (value.requires_grad or self.key_weight.requires_grad):
                self.token = _AppendProjected.apply(value, self.key_weight, self.token, self.storage, index)
            else:
                self.storage.write(index, value, value @ self.key_weight.t())
        elif grad and (value.requires_grad or key.requires_grad):
            self.token = _Append.apply(value, key, self.token, self.storage, index)
        else:
            self.storage.write(index, value, key)
        self.size += 1
        return index


class _Append(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value: Tensor, key: Tensor, prev_token: Tensor | None, storage: BankStorage, index: int) -> Tensor:  # noqa: ANN001
        storage.write(index, value, key)
        ctx.storage = storage
        ctx.index = index
        if index == 0:
            # Saved once so that saved-tensor hooks (memory accounting) see the buffer the reads keep.
            ctx.save_for_backward(storage.saved)
        return value.new_zeros(())

    @staticmethod
    def backward(ctx, _token_grad: Tensor):  # noqa: ANN001, ANN205
        d_values, d_keys = ctx.storage.grad_buffer()
        return d_values[:, ctx.index].clone(), d_keys[:, ctx.index].clone(), None, None, None


class _AppendProjected(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value, weight, prev_token, storage, index):  # noqa: ANN001, ANN205
        storage.write(index, value, value @ weight.t())
        ctx.storage, ctx.index = storage, index
        # row 0 also saves the buffer, once, so that saved-tensor hooks (memory accounting) see it
        ctx.save_for_backward(weight, *((storage.saved,) if index == 0 else ()))
        return value.new_zeros(())

    @staticmethod
    def backward(ctx, _token_grad):  # noqa: ANN001, ANN205
        storage: BankStorage = ctx.storage
        weight = ctx.saved_tensors[0]
        d_values, d_keys = storage.grad_buffer()
        d_key = d_keys[:, ctx.index]
        d_value = torch.addmm(d_values[:, ctx.index], d_key, weight)  # value's own gradient + via its key
        d_weight = None
        if ctx.index == 0 and ctx.needs_input_grad[1]:
            # Row 0's append runs last in backward (every read and later append depends on it), when the
            # key gradients of all rows are complete: the weight gradient of every row in one multiply.
            d_weight = storage.key_weight_grad(storage.capacity)
        return d_value, d_weight, None, None, None
