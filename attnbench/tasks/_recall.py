"""What copy and denoise share: symbols in, a marker, the same symbols out on the last steps.

Both follow the released code (SAB's ``copying_data``, MemoryNets' ``copytask.py`` and
``denoisetask.py``): ``N_RECALL`` = 10 symbols drawn uniformly from 1..8, blank 0, marker 9; the input is
one-hot over the 10 codes 0..9, the output has 9 classes (blank and the 8 symbols). The loss is
cross-entropy over every step; accuracy counts only the last 10 steps, where the symbols are due.
:class:`OneHotTask`, the one-hot input drawn as codes, is shared with mqar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.tasks.base import Task, check_split

N_RECALL = 10  # symbols to remember and emit
N_SYMBOLS = 8  # symbols are 1..N_SYMBOLS
BLANK = 0
MARKER = 9
INPUT_CODES = 10  # one-hot over blank, the 8 symbols and the marker
OUTPUT_CLASSES = N_SYMBOLS + 1  # blank and the 8 symbols


def draw_symbols(batch: int, generator: torch.Generator) -> Tensor:
    """(B, N_RECALL) long symbols uniform in 1..N_SYMBOLS, on the generator's device."""
    return torch.randint(1, N_SYMBOLS + 1, (batch, N_RECALL), generator=generator, device=generator.device)


class OneHotTask(Task):
    """A task whose inputs are one-hot codes: subclasses implement :meth:`codes`, the (B, T) long input
    codes (``0 .. input_size - 1``) and (B, T) long targets, on the generator's device."""

    def codes(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Input codes (B, T) and targets (B, T), both long, on the generator's device."""
        raise NotImplementedError

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        split: str = "train",
    ) -> tuple[Tensor, Tensor]:
        # fresh random sequences: the splits differ only by the generator the caller passes
        check_split(self, split)
        codes, y = self.codes(batch_size, generator)
        device = generator.device if device is None else device
        x = F.one_hot(codes.to(device), self.input_size).float()  # one-hot on the target device: (B, T, codes)
        return x, y.to(device)


class RecallTask(OneHotTask):
    """Base of copy and denoise: one-hot codes in, symbols out on the last ``N_RECALL`` steps."""

    metric = "accuracy"
    higher_is_better = True
    target = 0.99  # solved: near-perfect recall (the SAB and RSM papers' copy results are ~99-100%)

    @property
    def input_size(self) -> int:
        return INPUT_CODES

    @property
    def output_size(self) -> int:
        return OUTPUT_CLASSES

    @property
    def chance(self) -> float:
        return 1.0 / N_SYMBOLS  # guessing one of the 8 symbols at each recall step

    @property
    def delay(self) -> int:
        """The papers' T."""
        return int(self.config["seq_len"])

    @property
    def seq_len(self) -> int:
        return self.delay + 2 * N_RECALL

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        _check(self, logits, y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def score(self, logits: Tensor, y: Tensor) -> float:
        _check(self, logits, y)
        recall = logits[:, -N_RECALL:].argmax(-1)  # (B, 10)
        return (recall == y[:, -N_RECALL:]).float().mean().item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        _check(self, logits, y)
        return F.cross_entropy(logits[:, -1], y[:, -1])


def _check(task: Task, logits: Tensor, y: Tensor) -> None:
    if logits.dim() != 3 or logits.shape[:2] != y.shape or logits.shape[2] != task.output_size:
        raise ValueError(
            f"{task.name}: expected logits (B, T, {task.output_size}) and targets (B, T), "
            f"got {tuple(logits.shape)} and {tuple(y.shape)}"
        )
