"""The opt-in compiled path: a variant under ``torch.compile``, and what its compilation cost.

``Options.compile`` names a ``torch.compile`` mode (``default``, ``reduce-overhead``, ``max-autotune``);
``none`` (the default) runs eagerly. The whole module is compiled; the whole-sequence autograd nodes of
dense, rsm and sab (``attnbench.ops.lstm_cell``) are opaque to TorchDynamo (``torch.compiler.disable``
at their call), since their forward writes into views of preallocated buffers, which Dynamo cannot
trace (torch 2.13 fails on them with an assertion on a view's size). What is compiled around them is
the model's own code: projections, the output head, and, for a plain LSTMCell loop, the loop itself,
unrolled step by step (so its compile time grows with the sequence length).

Compilation happens on the first call, forward and backward: :func:`compile_step` makes that call and
times it; the measurement then warms up and times the compiled step as usual, so compile time
(``compile_time_s``) is a figure of its own, never part of ``step_time_s``. The accuracy run
(:func:`attnbench.training.train`) trains the compiled module too (evaluation stays eager); there the
compilation, and a recompilation for its own batch size, is part of ``train_time_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from attnbench.config import COMPILE_MODES


class CompileFailed(RuntimeError):
    """``torch.compile`` could not compile the model (no C++ compiler, an op it does not support)."""


def compile_model(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``model`` under ``torch.compile(mode=mode)`` (sharing its parameters); ``model`` itself for ``none``."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile={mode!r} is not allowed; expected one of {', '.join(COMPILE_MODES)}")
    if mode == "none":
        return model
    return torch.compile(model, mode=mode)


def compile_step(step: Callable[[], object], mode: str) -> float:
    """Run ``step`` (a training step of a compiled model) once, compiling it; its wall time in seconds.

    Raises :class:`CompileFailed` with a one-line reason when compilation fails.
    """
    start = time.perf_counter()
    try:
        step()
    except Exception as exc:  # Dynamo's and Inductor's errors have no common base class below Exception
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else "".join(lines[:1])
        raise CompileFailed(f"torch.compile(mode={mode!r}) failed: {type(exc).__name__}: {first}"[:500]) from exc
    return time.perf_counter() - start


__all__ = ["COMPILE_MODES", "CompileFailed", "compile_model", "compile_step"]
