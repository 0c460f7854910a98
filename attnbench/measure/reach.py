"""Gradient reach: how much gradient of the last step's loss arrives at hidden states far in the past.

For distance d the figure is ``|d loss_(T-1) / d h_(T-1-d)|``, the quantity the RSM paper's theory
bounds: per example, the norm of the gradient of that example's last-step loss with respect to its
own hidden state d steps earlier, averaged over the batch. A variant whose figure stays well above 0
at large d keeps gradient alive over that distance; a truncated LSTM's is exactly 0 beyond its window.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.tasks.base import Task
from attnbench.variants.base import RecurrentVariant


def reach_distances(seq_len: int) -> list[int]:
    """0, 1, 2, 4, 8, ... below ``seq_len``, and the longest distance ``seq_len - 1``."""
    out, d = [0], 1
    while d < seq_len:
        out.append(d)
        d *= 2
    if seq_len - 1 not in out:
        out.append(seq_len - 1)
    return sorted(set(out))


def _per_example_loss(task: Task, logits: Tensor, y: Tensor) -> Tensor:
    """Sum over the batch of each example's own last-step loss (each computed on a batch of one), so
    the gradient reaching example b's state is that of example b's loss, whatever the task's reduction."""
    if not isinstance(y, Tensor) or y.shape[:1] != logits.shape[:1]:
        return task.last_step_loss(logits, y) * logits.shape[0]  # assumes a batch mean
    return sum(task.last_step_loss(logits[b : b + 1], y[b : b + 1]) for b in range(logits.shape[0]))


def gradient_reach(
    model: RecurrentVariant, task: Task, x: Tensor, y: Tensor, distances: list[int] | None = None
) -> list[list[float]]:
    """``[[distance, mean over the batch of |d loss_(T-1) / d h_(T-1-distance)|], ...]``.

    Runs one forward with diagnostics (the per-step hidden states in the graph) and one backward.
    A state the loss does not depend on (cut by truncation) gets 0.0: no gradient reaches it.
    """
    with torch.enable_grad():
        out = model(x, diagnostics=True)
        if out.diagnostics is None:
            raise ValueError(f"{model.name}: forward(diagnostics=True) returned no diagnostics")
        hidden = out.diagnostics.hidden
        t_len = len(hidden)
        distances = reach_distances(t_len) if distances is None else [d for d in distances if 0 <= d < t_len]
        targets = [hidden[t_len - 1 - d] for d in distances]
        loss = _per_example_loss(task, out.logits, y)
        live = [i for i, h in enumerate(targets) if h.requires_grad]
        grads: list[Tensor | None] = [None] * len(targets)
        if live and loss.requires_grad:
            found = torch.autograd.grad(loss, [targets[i] for i in live], allow_unused=True)
            for i, g in zip(live, found):
                grads[i] = g
    rows = []
    for d, g in zip(distances, grads):
        norm = 0.0 if g is None else g.detach().float().flatten(1).norm(dim=1).mean().item()
        rows.append([d, norm])
    return rows


__all__ = ["gradient_reach", "reach_distances"]
