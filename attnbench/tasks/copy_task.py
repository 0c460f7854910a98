"""copy and transfer_copy: remember 10 symbols across a delay of T blanks.

As the released code builds it (SAB ``copying_data``, MemoryNets ``copytask.py``), length T + 20::

    step   0 .. 9        10 .. T+8      T+9      T+10 .. T+19
    x      symbols       blank (T-1)    marker   blank (10)
    y      blank (T+10)                          symbols

(Descriptions of the task speak of "T blanks" and of "length T+20"; the released code's T-1 blanks are
what give T+20, and what the papers' figures were measured on.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from attnbench.errors import UsageError
from attnbench.params import Param, ParameterError
from attnbench.tasks._recall import BLANK, MARKER, N_RECALL, RecallTask, draw_symbols
from attnbench.tasks.base import Task
from attnbench.tasks.registry import register_task

DELAY = Param("seq_len", 100, int, low=1, axis="seq_len", help="delay T between the symbols and the marker")


@register_task
class CopyTask(RecallTask):
    """Copy 10 symbols after a delay of T blanks; accuracy over the 10 recall steps, chance 1/8."""

    name = "copy"
    description = "copy 10 symbols from 1..8 after a delay of T blanks (length T+20)"
    params = (DELAY,)

    def codes(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        t = self.delay
        symbols = draw_symbols(batch_size, generator)  # (B, 10)
        x = torch.full((batch_size, self.seq_len), BLANK, dtype=torch.long, device=symbols.device)
        x[:, :N_RECALL] = symbols
        x[:, N_RECALL + t - 1] = MARKER  # after the T-1 blanks
        y = torch.full_like(x, BLANK)
        y[:, -N_RECALL:] = symbols
        return x, y


def parse_lengths(text: str, owner: str, name: str) -> tuple[int, ...]:
    """``"200, 300"`` -> (200, 300); a one-line :class:`ParameterError` for anything else."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ParameterError(
            f"{owner}: {name}={text!r} is not allowed; expected comma-separated integers >= 1, e.g. '200,300'"
        )
    return values


@register_task
class TransferCopyTask(CopyTask):
    """Train on copy at delay T, evaluate on copy at longer delays (the SAB paper's transfer test)."""

    name = "transfer_copy"
    description = "train on copy at delay T, then evaluate copy at longer delays (eval_lens)"
    params = (
        DELAY,
        Param(
            "eval_lens",
            None,
            str,
            none_means="2T,3T,5T",
            help="comma-separated delays to evaluate at, each at least seq_len",
        ),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        text = self.config["eval_lens"]
        t = self.delay
        lengths = (2 * t, 3 * t, 5 * t) if text is None else parse_lengths(text, self.name, "eval_lens")
        shorter = [n for n in lengths if n < t]
        if shorter:
            raise UsageError(
                f"{self.name}: evaluation delay {shorter[0]} is shorter than the training delay seq_len={t}; "
                "transfer is evaluated at delays >= seq_len"
            )
        self.eval_lens: tuple[int, ...] = tuple(sorted(set(lengths)))

    def transfer_tasks(self) -> dict[int, Task]:
        return {n: CopyTask(seq_len=n) for n in self.eval_lens}
