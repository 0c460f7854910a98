"""Train a variant on a task and score it on held-out batches: the accuracy side of every trade-off.

How to train is :class:`~attnbench.config.Options` (``train_steps``, ``train_batch``, ``optimizer``,
``lr``, ``clip``, ``eval_batches``), whose defaults are the released codes': Adam (SAB) or RMSprop
(RSM, smoothing 0.99), learning rate 1e-3, gradient norm clipped at 1.0. :func:`train` seeds the data
only (the caller built the model); :func:`build_model` builds a variant with seeded initialisation,
and :func:`train_point` does both for a :class:`~attnbench.config.Point`, so on CPU a seed fixes the
whole run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from attnbench.config import POINT_FIELDS, Options
from attnbench.measure.compiled import compile_model
from attnbench.params import ParameterError
from attnbench.tasks.base import Task, validation_split
from attnbench.variants import RecurrentVariant, build_seeded

if TYPE_CHECKING:
    from attnbench.config import Point

EVAL_SEED_OFFSET = 0x5EED  # held-out batches come from a stream of their own, not the training one
VALID_SEED_OFFSET = 0x7A11D  # and validation batches from a third stream (data sets: the "valid" split)
EVAL_SHARE = 0.05  # the learning curve's validation costs at most about this share of training (MLPerf)
FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a training step (forward + backward)
HISTORY_POINTS = 100  # training history keeps about this many averaged windows


@dataclass
class TrainResult:
    """What a training run gives: final loss, held-out score, transfer scores, time and history.

    ``final_loss`` is the mean training loss over the last history window (the last ~1% of steps);
    ``score`` is the task's metric on ``eval_batches`` held-out batches; ``transfer_scores`` maps each
    evaluation length (the task's sequence-length parameter, e.g. copy's delay T) to the score there.
    ``history`` holds ``{"step", "split", "loss", "score"}`` records: "train" ones average the steps
    since the previous record, the last one is the held-out ("test") evaluation. ``wall_time_s`` covers
    training and evaluation. ``curve`` is the learning curve, ``[step, training seconds, validation
    score]`` at about ``curve_points`` steps (training seconds leave the validation time, ``val_time_s``,
    out); ``steps_to_target``/``seconds_to_target`` are its first point at ``target``, None if none.
    """

    steps: int
    final_loss: float
    score: float
    metric: str
    higher_is_better: bool
    chance: float
    transfer_scores: dict[int, float] = field(default_factory=dict)
    wall_time_s: float = 0.0
    history: list[dict] = field(default_factory=list)
    curve: list[list[float]] = field(default_factory=list)  # [step, training seconds, validation score]
    val_time_s: float = 0.0
    target: float | None = None
    steps_to_target: int | None = None
    seconds_to_target: float | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict (transfer lengths become string keys, as JSON requires)."""
        out = asdict(self)
        out["transfer_scores"] = {str(k): v for k, v in self.transfer_scores.items()}
        return out


def make_optimizer(params: Any, options: Options) -> torch.optim.Optimizer:
    """Adam, or RMSprop with the released code's smoothing constant 0.99."""
    if options.optimizer == "adam":
        return torch.optim.Adam(params, lr=options.lr)
    return torch.optim.RMSprop(params, lr=options.lr, alpha=0.99)


@torch.no_grad()
def evaluate(
    model: RecurrentVariant,
    task: Task,
    batches: int,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    split: str = "test",
) -> tuple[float, float]:
    """Mean loss and mean score of ``model`` on ``batches`` held-out batches of ``split`` drawn from ``seed``."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    losses, scores = [], []
    try:
        for _ in range(batches):
            x, y = task.sample(batch_size, generator, device, split=split)
            logits = model(x).logits
            losses.append(task.loss(logits, y).item())
            scores.append(task.score(logits, y))
    finally:
        model.train(was_training)
    return sum(losses) / batches, sum(scores) / batches


def train(
    model: RecurrentVariant,
    task: Task,
    options: Options,
    device: torch.device | str = "cpu",
    on_step: Callable[[int, RecurrentVariant], None] | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
) -> TrainResult:
    """Train ``model`` on ``task`` for ``options.train_steps`` steps, then score it on held-out batches.

    Seeds the data stream only (``seed``); seed the model's initialisation when building it
    (:func:`build_model`) for a fully deterministic run on CPU. ``on_step(step, model)``, if given, is
    called after every optimiser step (diagnostics during training; it must not change the model).
    ``progress`` shows a tqdm bar when stderr is a terminal.
    """
    if options.train_steps < 1:
        raise ParameterError(f"train: train_steps={options.train_steps!r} is not allowed; expected an integer >= 1")
    seed = POINT_FIELDS["seed"].validate(seed, "train")
    steps, batch = options.train_steps, options.train_batch
    if model.input_size != task.input_size or model.output_size != task.output_size:
        raise ParameterError(
            f"train: the model maps {model.input_size} inputs to {model.output_size} outputs; "
            f"task {task.name} needs {task.input_size} to {task.output_size}"
        )
    device = torch.device(device)
    start = time.perf_counter()
    model.to(device).train()
    optimizer = make_optimizer(model.parameters(), options)
    generator = torch.Generator().manual_seed(seed)  # CPU: the same batches on every device
    window = max(1, steps // HISTORY_POINTS)
    history: list[dict] = []
    sums = [0.0, 0.0, 0]  # loss, score, steps since the last record
    short = "acc" if task.metric == "accuracy" else task.metric
    show = progress and sys.stderr.isatty()
    target = options.target if options.target is not None else task.target
    marks, val_batches = curve_schedule(steps, options.curve_points, options.eval_batches)
    valid_generator_seed = seed + VALID_SEED_OFFSET
    val_split = validation_split(task)  # "valid"; "train" (a stream of its own) for a task of plugin API 1
    curve: list[list[float]] = []
    val_time = 0.0
    net = compile_model(model, options.compile)  # the training steps compiled if asked for; evaluation eager
    with tqdm(total=steps, disable=not show, desc=f"{model.name} on {task.name}", leave=False) as bar:
        for step in range(1, steps + 1):
            x, y = task.sample(batch, generator, device, split="train")
            logits = net(x).logits  # (B, T, C)
            loss = task.loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if options.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip)
            optimizer.step()
            if on_step is not None:
                on_step(step, model)
            sums[0] += loss.item()
            sums[1] += task.score(logits.detach(), y)
            sums[2] += 1
            if step % window == 0 or step == steps:
                n = sums[2]
                history.append({"step": step, "split": "train", "loss": sums[0] / n, "score": sums[1] / n})
                bar.set_postfix({"loss": f"{sums[0] / n:.4f}", short: f"{sums[1] / n:.3f}"}, refresh=False)
                sums = [0.0, 0.0, 0]
            if step in marks:
                began = time.perf_counter()  # loss.item() above synchronised the device
                train_seconds = began - start - val_time
                # the same validation batches at every point: a curve of the model, not of the draw
                _, val_score = evaluate(model, task, val_batches, batch, valid_generator_seed, device, split=val_split)
                val_time += time.perf_counter() - began
                curve.append([step, train_seconds, val_score])
            bar.update()
    eval_seed = seed + EVAL_SEED_OFFSET
    eval_loss, score = evaluate(model, task, options.eval_batches, batch, eval_seed, device)
    history.append({"step": steps, "split": "test", "loss": eval_loss, "score": score})
    transfer = {
        length: evaluate(model, other, options.eval_batches, batch, eval_seed, device)[1]
        for length, other in task.transfer_tasks().items()
    }
    return TrainResult(
        steps=steps,
        final_loss=history[-2]["loss"],
        score=score,
        metric=task.metric,
        higher_is_better=task.higher_is_better,
        chance=task.chance,
        transfer_scores=transfer,
        wall_time_s=time.perf_counter() - start,
        history=history,
        curve=curve,
        val_time_s=val_time,
        target=target,
        **dict(zip(("steps_to_target", "seconds_to_target"), time_to_target(curve, target, task.higher_is_better))),
    )


def curve_schedule(steps: int, points: int, eval_batches: int) -> tuple[set[int], int]:
    """The steps the learning curve is evaluated at and the validation batches per point.

    About ``points`` evenly spaced steps, the last one the final step; per point as many batches as
    keep the validation within :data:`EVAL_SHARE` of training (a forward pass costing about
    :data:`FORWARD_SHARE` of a training step), at least one and at most ``eval_batches``. Fewer points
    where even one batch each would cost more than that share.
    """
    if points < 1 or steps < 1:
        return set(), 0
    budget = EVAL_SHARE * steps / FORWARD_SHARE  # forward passes the validation may spend
    points = max(1, min(points, steps, int(budget)))
    batches = max(1, min(eval_batches, int(budget / points)))
    return {round(steps * k / points) for k in range(1, points + 1)}, batches


def time_to_target(
    curve: list[list[float]], target: float | None, higher_is_better: bool
) -> tuple[int | None, float | None]:
    """``(step, training seconds)`` of the first curve point whose score reaches ``target`` (>= when
    higher is better, <= otherwise); ``(None, None)`` when none does or there is no target."""
    if target is None:
        return None, None
    for step, seconds, score in curve:
        if (score >= target) if higher_is_better else (score <= target):
            return int(step), float(seconds)
    return None, None


def build_model(variant: str, task: Task, hidden_size: int = 128, seed: int = 0, **params: Any) -> RecurrentVariant:
    """Variant ``variant`` sized for ``task``, its weights initialised from ``seed``.

    The global torch RNG is left as it was.
    """
    return build_seeded(variant, task.input_size, task.output_size, hidden_size, seed, **params)


def train_point(point: Point, options: Options, *, progress: bool = False) -> TrainResult:
    """Build ``point``'s variant for its task (initialisation seeded from its seed) and :func:`train` it
    on its device; the model trains in float32 whatever the point's dtype."""
    task = point.build_task()
    model = build_model(point.variant, task, point.hidden_size, point.seed, **point.params)
    return train(model, task, options, point.torch_device(), seed=point.seed, progress=progress)


__all__ = [
    "TrainResult",
    "build_model",
    "curve_schedule",
    "evaluate",
    "make_optimizer",
    "time_to_target",
    "train",
    "train_point",
]
