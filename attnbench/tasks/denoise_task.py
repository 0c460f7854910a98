"""denoise: 10 symbols scattered among blanks; after the marker, emit them in order.

As MemoryNets' ``denoisetask.py`` builds it, length T + 20::

    step   0 .. T+8                                      T+9      T+10 .. T+19
    x      10 symbols at distinct random sorted steps,   marker   blank (10)
           blanks elsewhere (T+9 slots)
    y      blank (T+10)                                           the symbols, in input order

Unlike copy the symbols' positions change from sequence to sequence, so the network must find them,
not count. The released code one-hot encodes 11 codes with marker 10 and code 9 unused; here the marker
is 9 as in copy, which drops the always-zero input channel and changes nothing else.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.params import Param
from attnbench.tasks._recall import BLANK, MARKER, N_RECALL, RecallTask, draw_symbols
from attnbench.tasks.registry import register_task


@register_task
class DenoiseTask(RecallTask):
    """Emit, after the marker, the 10 symbols scattered at random steps; chance 1/8."""

    name = "denoise"
    description = "emit in order 10 symbols scattered among T+9 blank slots (length T+20)"
    params = (Param("seq_len", 100, int, low=1, axis="seq_len", help="the papers' T: symbols lie in T+9 slots"),)

    def codes(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        slots = self.delay + N_RECALL - 1
        symbols = draw_symbols(batch_size, generator)  # (B, 10)
        dev = symbols.device
        # N_RECALL distinct slots per sequence, sorted so the symbols keep their order
        keys = torch.rand(batch_size, slots, generator=generator, device=dev)
        where = keys.argsort(dim=1)[:, :N_RECALL].sort(dim=1).values  # (B, 10)
        x = torch.full((batch_size, self.seq_len), BLANK, dtype=torch.long, device=dev)
        x.scatter_(1, where, symbols)
        x[:, slots] = MARKER
        y = torch.full_like(x, BLANK)
        y[:, -N_RECALL:] = symbols
        return x, y
