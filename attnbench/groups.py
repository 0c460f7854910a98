"""Replicate groups: the seeds and learning rates of one configuration trained as one model.

Small recurrent models are dispatch-bound (hundreds of tiny operations per time step), so G replicates
cost little more than one when every weight gets a leading group dimension G and each operation does
the G models' work at once. :class:`ReplicaGroup` stacks G separately built models (each initialised
from its own seed, exactly as alone) into (G, *shape) parameters and runs them through the variant's
:meth:`~attnbench.variants.RecurrentVariant.group_forward`; a variant without one runs its replicates
one by one through ``torch.func.functional_call`` (the plain reference the tests hold the fast path to).

torch.optim has no per-model learning rate, so :class:`GroupOptimizer` is Adam and RMSprop written for
a (G,) learning rate, and :func:`clip_group_grad_norm_` clips each replicate's gradient by its own norm:
each replicate's update is the one ``torch.optim`` and ``clip_grad_norm_`` give it alone (to rounding).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from attnbench.tasks.base import Task
    from attnbench.variants.base import RecurrentVariant


def _key(name: str) -> str:
    return name.replace(".", "__")  # ParameterDict keys cannot hold dots


class ReplicaGroup(nn.Module):
    """G models of one variant and configuration as one module with (G, *shape) parameters.

    ``forward(x)`` takes (G, B, T, I) and returns logits (G, B, T, C). ``grouped`` says whether the
    variant's own :meth:`group_forward` runs (else the per-replicate reference loop).
    """

    def __init__(self, models: Sequence[RecurrentVariant]) -> None:
        super().__init__()
        if not models:
            raise ValueError("ReplicaGroup: no models")
        first = models[0]
        for other in models[1:]:
            if type(other) is not type(first) or other.config != first.config:
                raise ValueError("ReplicaGroup: the replicates of a group are one variant and configuration")
        self.size = len(models)
        self.names = [name for name, _ in first.named_parameters()]
        self.stacks = nn.ParameterDict(
            {
                _key(name): nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in models]))
                for name in self.names
            }
        )
        self.__dict__["template"] = first  # not a submodule: its own parameters are not trained
        self.grouped = type(first).trains_grouped()

    def stacked(self) -> dict[str, Tensor]:
        """Parameter name (as the variant names it) -> its (G, *shape) stack."""
        return {name: self.stacks[_key(name)] for name in self.names}

    def _apply(self, fn: Any, recurse: bool = True) -> ReplicaGroup:  # .to() / .double() reach the template too
        super()._apply(fn, recurse)
        self.template._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> ReplicaGroup:
        super().train(mode)
        self.template.train(mode)
        return self

    def forward(self, x: Tensor) -> Tensor:  # (G, B, T, I) -> (G, B, T, C)
        if x.shape[0] != self.size:
            raise ValueError(f"ReplicaGroup: input of {x.shape[0]} replicates for a group of {self.size}")
        params = self.stacked()
        if self.grouped:
            return self.template.group_forward(params, x)
        from torch.func import functional_call

        outs = [
            functional_call(self.template, {n: p[g] for n, p in params.items()}, (x[g],)).logits
            for g in range(self.size)
        ]
        return torch.stack(outs)

    def replica(self, g: int) -> RecurrentVariant:
        """An independent copy of the variant holding replicate ``g``'s current weights."""
        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(self.stacks[_key(name)][g])
        return model


def build_group(variant: str, task: Task, hidden_size: int, seeds: Sequence[int], **params: Any) -> ReplicaGroup:
    """Each replicate built alone from its seed (:func:`attnbench.training.build_model`), then stacked: a
    group of one seed holds the model that seed builds."""
    from attnbench.training import build_model

    return ReplicaGroup([build_model(variant, task, hidden_size, seed, **params) for seed in seeds])


def _per_replicate(values: Tensor, like: Tensor) -> Tensor:
    """(G,) -> (G, 1, ..., 1), broadcasting over one replicate's tensor."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class GroupOptimizer:
    """Adam (betas 0.9, 0.999, eps 1e-8) or RMSprop (alpha 0.99, eps 1e-8) with a learning rate per replicate.

    Each replicate's update is what ``torch.optim.Adam(lr=lr)`` / ``torch.optim.RMSprop(lr=lr, alpha=0.99)``
    does to it alone (to rounding). A step reads nothing back from the device.
    """

    def __init__(self, group: ReplicaGroup, kind: str, lrs: Sequence[float]) -> None:
        if kind not in ("adam", "rmsprop"):
            raise ValueError(f"GroupOptimizer: kind={kind!r} is not allowed; expected adam or rmsprop")
        if len(lrs) != group.size:
            raise ValueError(f"GroupOptimizer: {len(lrs)} learning rate(s) for a group of {group.size}")
        self.kind = kind
        self.params = list(group.stacks.values())
        like = self.params[0]
        self.lr = torch.tensor(list(lrs), dtype=like.dtype, device=like.device)
        self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]
        # the step count lives on the device, so that a captured step (capture_step) counts on replay
        self.steps = torch.zeros((), dtype=like.dtype, device=like.device)

    def zero_grad(self) -> None:
        """Drop every gradient (set to None, as ``zero_grad(set_to_none=True)``)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every replicate."""
        self.steps.add_(1)
        if self.kind == "adam":
            beta1, beta2, eps = 0.9, 0.999, 1e-8
            correction1 = 1 - torch.pow(beta1, self.steps)
            correction2 = (1 - torch.pow(beta2, self.steps)).sqrt()
            for p, (m, v) in zip(self.params, self.state):
                if p.grad is None:
                    continue
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (v.sqrt() / correction2).add_(eps)
                step = _per_replicate(self.lr / correction1, p)
                p.addcdiv_(m * step, denom, value=-1.0)
        else:
            alpha, eps = 0.99, 1e-8
            for p, (v, _) in zip(self.params, self.state):
                if p.grad is None:
                    continue
                v.mul_(alpha).addcmul_(p.grad, p.grad, value=1 - alpha)
                p.addcdiv_(p.grad * _per_replicate(self.lr, p), v.sqrt().add_(eps), value=-1.0)


@torch.no_grad()
def clip_group_grad_norm_(group: ReplicaGroup, max_norm: float) -> Tensor:
    """Per replicate, what ``torch.nn.utils.clip_grad_norm_(replica.parameters(), max_norm)`` does to it
    alone; returns the (G,) total gradient norms before clipping. ``max_norm <= 0`` clips nothing."""
    grads = [p.grad for p in group.stacks.values() if p.grad is not None]
    if not grads:
        return torch.zeros(group.size)
    squares = torch.stack([g.reshape(group.size, -1).square().sum(1) for g in grads]).sum(0)  # (G,)
    norms = squares.sqrt()
    if max_norm > 0:
        coef = (max_norm / (norms + 1e-6)).clamp_(max=1.0)  # torch's: max_norm / (norm + 1e-6), at most 1
        for g in grads:
            g.mul_(_per_replicate(coef, g))
    return norms


class CudaGraphUnavailable(RuntimeError):
    """CUDA-graph capture asked for where it cannot run (no CUDA device)."""


def capture_step(step: Callable[[], None], device: torch.device | str) -> Callable[[], None]:
    """``step`` (a training step over fixed tensors: no host synchronisation, fixed shapes) captured as a
    CUDA graph; returns its replay. Warm-up runs on a side stream first, as torch's "CUDA Graphs" notes
    prescribe (whole-network capture, the optimizer step included). Inputs are the tensors ``step``
    closes over: copy each new batch into them before a replay.

    Raises :class:`CudaGraphUnavailable` (one line) without a CUDA device.
    """
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise CudaGraphUnavailable(f"CUDA graph capture needs a CUDA device (this run is on {device})")
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def timed_group_step(
    variant: str,
    task: Task,
    hidden_size: int,
    batch: int,
    size: int,
    device: torch.device | str = "cpu",
    *,
    graph: bool = False,
    **params: Any,
) -> tuple[Callable[[], float], bool]:
    """A benchmark's training step of a group of ``size`` replicates (seeds 0..size-1, Adam at lr 1e-3, clip
    1.0) over fixed batches: returns a callable that runs one step and gives its seconds (device-synchronised),
    and whether the variant's own group_forward runs. ``graph``: the step captured as a CUDA graph."""
    device = torch.device(device)
    group = build_group(variant, task, hidden_size, list(range(size)), **params).to(device)
    optimizer = GroupOptimizer(group, "adam", [1e-3] * size)
    gen = torch.Generator().manual_seed(0)
    draws = [task.sample(batch, gen, device) for _ in range(size)]
    x = torch.stack([d[0] for d in draws])
    y = torch.stack([d[1] for d in draws])

    def step() -> None:
        optimizer.zero_grad()
        group_losses(task, group(x), y).sum().backward()
        clip_group_grad_norm_(group, 1.0)
        optimizer.step()

    run = capture_step(step, device) if graph else step
    cuda = device.type == "cuda"

    def timed() -> float:
        began = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter() - began

    return timed, group.grouped


def group_losses(task: Task, logits: Tensor, y: Tensor) -> Tensor:
    """``task.loss`` of each replicate: logits (G, B, T, C), targets (G, B, ...) -> (G,)."""
    return torch.stack([task.loss(logits[g], y[g]) for g in range(logits.shape[0])])


__all__ = [
    "CudaGraphUnavailable",
    "GroupOptimizer",
    "ReplicaGroup",
    "build_group",
    "capture_step",
    "clip_group_grad_norm_",
    "group_losses",
    "timed_group_step",
]
