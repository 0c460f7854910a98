"""A task and a variant written to plugin API 1, the contract docs/plugins.md documented before the
validation split existed (attnbench 0.1: ``Task.sample(batch_size, generator, device=None,
split="train")`` with split "train" or "test").

FROZEN: never edit this file. It stands for plugins already written and installed; the tests that use it
(tests/test_plugins.py, ``old_contract``) must keep passing without changing it. A change of the plugin
contract that breaks it is a break of every such plugin: keep them working (as
``attnbench.tasks.validation_split`` keeps this task's validation working), or bump
``attnbench.PLUGIN_API`` and say so in CHANGELOG.md. New contract features get tests of their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.params import Param
from attnbench.tasks import Task
from attnbench.variants import Diagnostics, RecurrentVariant, VariantOutput


class OldSum(Task):
    """The sum of the first and the last value of a sequence; MSE of the last output."""

    description = "sum of the first and last of T uniform numbers (plugin API 1 test plugin)"
    params = (Param("seq_len", 8, int, low=2, axis="seq_len", help="sequence length T"),)
    metric = "mse"
    higher_is_better = False

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def seq_len(self) -> int:
        return int(self.config["seq_len"])

    @property
    def chance(self) -> float:
        return 1.0 / 6.0

    def sample(self, batch_size, generator, device=None, split="train"):
        if split not in ("train", "test"):
            raise ValueError(f"{self.name}: split={split!r} is not allowed; expected 'train' or 'test'")
        values = torch.rand(batch_size, self.seq_len, generator=generator, device=generator.device)
        x, y = values.unsqueeze(2), values[:, 0] + values[:, -1]
        device = generator.device if device is None else device
        return x.to(device), y.to(device)

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(logits[:, -1, 0], y)

    def score(self, logits: Tensor, y: Tensor) -> float:
        return F.mse_loss(logits[:, -1, 0], y).item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return self.loss(logits, y)


class OldCell(RecurrentVariant):
    """An LSTM cell loop with a scaled input (plugin API 1 test plugin)."""

    description = "LSTM cell loop with an input scale (plugin API 1 test plugin)"
    params = (Param("scale", 1.0, float, low=0.01, high=100.0, help="input scale"),)

    def build(self) -> None:
        self.cell = nn.LSTMCell(self.input_size, self.hidden_size)
        self.head = nn.Linear(self.hidden_size, self.output_size)

    def forward(self, x, *, diagnostics=False):
        b, t = self.check_input(x)
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        hidden = []
        for step in range(t):
            h, c = self.cell(x[:, step] * self.config["scale"], (h, c))
            hidden.append(h)
        logits = self.head(torch.stack(hidden, dim=1))
        if not diagnostics:
            return VariantOutput(logits)
        occupancy = torch.zeros(b, t, dtype=torch.long, device=x.device)
        return VariantOutput(logits, Diagnostics(hidden, [None] * t, [None] * t, occupancy))
