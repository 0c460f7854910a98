"""Attention reads over stored past states and the recurrence machinery the variants share.

The public contract (what built-ins and plugins may call; see docs/plugins.md, "The ops contract"):

- :class:`StateBank` stores past states; :func:`additive_read`, :func:`slot_read` and :func:`sparse_read`
  attend over them, each one autograd node per read. :class:`BankStorage` is a bank's tensors
  (``values``, ``keys``, ``grad_buffer()``, ``key_weight_grad()``): what a plugin's own read keeps and
  differentiates into. ``additive_attend`` / ``sparse_attend`` and their ``*_backward`` are the reads'
  forward and backward without autograd, for a node that reads inside its own loop (the built-ins).
  :mod:`attnbench.ops.naive` holds the plain autograd references.
- :class:`LSTMSequence`: ``torch.lstm_cell`` over a whole sequence without autograd, and its backward by
  hand, for variants that run their whole recurrence in one autograd node (the built-ins' default path).
- :class:`StepPass` and :class:`OuterSum`: what the nodes of a per-step recurrence share within one
  backward pass (the built-ins' ``diagnostics=True`` path).
- Replicate groups: 3-D weights (leading dimension G) and (G, D) score vectors run G models at once on
  (G*B, ...) group-major rows; :mod:`attnbench.ops.grouped` holds the products (plain when 2-D).
- :func:`graph_task_id`: the running backward pass, to key per-pass buffers (fails loudly where torch
  lacks the private API it reads).
"""

from attnbench.ops.additive_read import additive_attend, additive_attend_backward, additive_read
from attnbench.ops.lstm_cell import LSTMSequence
from attnbench.ops.scores import SIGMOID_FORM, to_sigmoid_form
from attnbench.ops.slot_read import SlotMemory, slot_read
from attnbench.ops.sparse_read import sparse_attend, sparse_attend_backward, sparse_read
from attnbench.ops.state_bank import BankStorage, StateBank, graph_task_id
from attnbench.ops.step_pass import OuterSum, StepPass

__all__ = [
    "SIGMOID_FORM",
    "BankStorage",
    "LSTMSequence",
    "OuterSum",
    "SlotMemory",
    "StateBank",
    "StepPass",
    "additive_attend",
    "additive_attend_backward",
    "additive_read",
    "graph_task_id",
    "slot_read",
    "sparse_attend",
    "sparse_attend_backward",
    "sparse_read",
    "to_sigmoid_form",
]
