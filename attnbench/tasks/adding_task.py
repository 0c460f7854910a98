"""adding: the sum of the two marked values of a sequence of T random numbers.

Two input channels per step: a value uniform in [0, 1] and a 0/1 mask. The mask marks one step in the
first half (0 <= i < T//2) and one in the second (T//2 <= j < T), as in Le et al. and the papers' code.
The target is the sum of the two marked values; the loss and the metric are the MSE of the last
step's single output. Predicting 1 whatever the input scores Var(U1 + U2) = 1/6, about 0.167.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.params import Param
from attnbench.tasks.base import Task, check_split
from attnbench.tasks.registry import register_task


@register_task
class AddingTask(Task):
    """Regress the sum of the two marked values; MSE on the last step (lower is better)."""

    name = "adding"
    description = "sum of two marked values among T uniform numbers; MSE of the last output"
    params = (Param("seq_len", 100, int, low=2, axis="seq_len", help="sequence length T"),)
    metric = "mse"
    higher_is_better = False
    target = 0.01  # solved: MSE well below chance's 1/6 (Le, Jaitly and Hinton 2015 plot against 0.167)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    @property
    def seq_len(self) -> int:
        return int(self.config["seq_len"])

    @property
    def chance(self) -> float:
        return 1.0 / 6.0  # the MSE of always predicting the mean, 1

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        split: str = "train",
    ) -> tuple[Tensor, Tensor]:
        check_split(self, split)
        t, dev = self.seq_len, generator.device
        half = t // 2
        values = torch.rand(batch_size, t, generator=generator, device=dev)
        first = torch.randint(0, half, (batch_size, 1), generator=generator, device=dev)
        second = torch.randint(half, t, (batch_size, 1), generator=generator, device=dev)
        marked = torch.cat([first, second], dim=1)  # (B, 2)
        mask = torch.zeros_like(values).scatter_(1, marked, 1.0)
        x = torch.stack([values, mask], dim=2)  # (B, T, 2)
        y = values.gather(1, marked).sum(1)  # (B,)
        device = dev if device is None else device
        return x.to(device), y.to(device)

    def _last(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.dim() != 3 or logits.shape[2] != 1 or y.shape != logits.shape[:1]:
            raise ValueError(
                f"{self.name}: expected logits (B, T, 1) and targets (B,), "
                f"got {tuple(logits.shape)} and {tuple(y.shape)}"
            )
        return logits[:, -1, 0]

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(self._last(logits, y), y)

    def score(self, logits: Tensor, y: Tensor) -> float:
        return F.mse_loss(self._last(logits, y), y).item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return self.loss(logits, y)
