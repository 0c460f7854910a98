"""Attention reads over stored past states, with hand-written backward passes.

Public building blocks for variants (built-in and plugin): :class:`StateBank` stores past states,
:func:`additive_read`, :func:`slot_read` and :func:`sparse_read` attend over them, and
:mod:`attnbench.ops.naive` holds the plain autograd references the tests compare them with.
"""

from attnbench.ops.additive_read import additive_read
from attnbench.ops.scores import SIGMOID_FORM, to_sigmoid_form
from attnbench.ops.slot_read import SlotMemory, slot_read
from attnbench.ops.sparse_read import sparse_read
from attnbench.ops.state_bank import StateBank

__all__ = ["SIGMOID_FORM", "SlotMemory", "StateBank", "additive_read", "slot_read", "sparse_read", "to_sigmoid_form"]
