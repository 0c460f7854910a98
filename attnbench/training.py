"""Train a variant on a task and score it on held-out batches: the accuracy side of every trade-off.

How to train is :class:`~attnbench.config.Options` (``train_steps``, ``train_batch``, ``optimizer``,
``lr``, ``clip``, ``eval_batches``), whose defaults are the released codes': Adam (SAB) or RMSprop
(RSM, smoothing 0.99), learning rate 1e-3, gradient norm clipped at 1.0. :func:`train` seeds the data
only (the caller built the model); :func:`build_model` builds a variant with seeded initialisation,
and :func:`train_point` does both for a :class:`~attnbench.config.Point`, so on CPU a seed fixes the
whole run.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm import tqdm

from attnbench.config import POINT_FIELDS, Options, check_target
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

    ``diverged_at`` is the step whose training loss (or validation score) was first not finite
    (:func:`finite`), None for a run that stayed finite. Training stops there (``steps`` is that step):
    ``score`` and ``final_loss`` are NaN, there are no transfer scores and no time to target, and the
    history and curve end before that step.
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
    diverged_at: int | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict (transfer lengths become string keys, as JSON requires; a non-finite number,
        which JSON has not, becomes None)."""
        out = asdict(self)
        out["transfer_scores"] = {str(k): v for k, v in self.transfer_scores.items()}
        return _finite_only(out)


def finite(value: float) -> bool:
    """Whether a loss or score read from the device (a Python float) is finite: a run whose training
    loss is not has diverged, and nothing it computes afterwards means anything."""
    return math.isfinite(value)


def diverged_reason(step: int) -> str:
    """The reason stored for the figures a run that diverged at ``step`` could not give."""
    return f"diverged at step {step} (training loss not finite)"


def _finite_only(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(v) for v in value]
    return value


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
            logits = model(_as_model_input(x, model)).logits
            losses.append(task.loss(logits, y).item())
            scores.append(task.score(logits, y))
    finally:
        model.train(was_training)
    return sum(losses) / batches, sum(scores) / batches


def _as_model_input(x: Tensor, model: torch.nn.Module) -> Tensor:
    """``x`` in the model's floating type (a task draws float32; a float64 model is fed float64)."""
    param = next(model.parameters(), None)
    if param is not None and x.is_floating_point() and x.dtype != param.dtype:
        return x.to(param.dtype)
    return x


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
    target = check_target(task, options.target, "train") if options.target is not None else task.target
    marks, val_batches = curve_schedule(steps, options.curve_points, options.eval_batches)
    valid_generator_seed = seed + VALID_SEED_OFFSET
    val_split = validation_split(task)  # "valid"; "train" (a stream of its own) for a task of plugin API 1
    curve: list[list[float]] = []
    val_time = 0.0
    net = compile_model(model, options.compile)  # the training steps compiled if asked for; evaluation eager
    diverged_at: int | None = None
    with tqdm(total=steps, disable=not show, desc=f"{model.name} on {task.name}", leave=False) as bar:
        for step in range(1, steps + 1):
            x, y = task.sample(batch, generator, device, split="train")
            x = _as_model_input(x, model)
            logits = net(x).logits  # (B, T, C)
            loss = task.loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if options.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip)
            optimizer.step()
            if on_step is not None:
                on_step(step, model)
            loss_value = loss.item()
            if not finite(loss_value):  # diverged: the weights are no longer numbers, stop here
                diverged_at = step
                break
            sums[0] += loss_value
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
                if not finite(val_score):  # this step's update made the weights non-finite
                    diverged_at = step
                    break
                curve.append([step, train_seconds, val_score])
            bar.update()
    if diverged_at is not None:
        return _diverged(diverged_at, task, history, curve, target, time.perf_counter() - start, val_time)
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


def _diverged(
    step: int, task: Task, history: list[dict], curve: list[list[float]], target: float | None, wall: float, val: float
) -> TrainResult:
    """The result of a run that diverged at ``step``: no scores and no time to target (a run that
    diverged did not solve the task), the history and curve it had before."""
    return TrainResult(
        steps=step,
        final_loss=math.nan,
        score=math.nan,
        metric=task.metric,
        higher_is_better=task.higher_is_better,
        chance=task.chance,
        wall_time_s=wall,
        history=history,
        curve=curve,
        val_time_s=val,
        target=target,
        diverged_at=step,
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
    "diverged_reason",
    "evaluate",
    "finite",
    "make_optimizer",
    "time_to_target",
    "train",
    "train_group",
    "train_point",
]


# ----- replicates trained together -----------------------------------------------------------------


@torch.no_grad()
def evaluate_group(
    group: Any,
    task: Task,
    batches: int,
    batch_size: int,
    seeds: list[int],
    device: torch.device | str = "cpu",
    split: str = "test",
) -> tuple[list[float], list[float]]:
    """:func:`evaluate` of every replicate of ``group`` at once: replicate g draws its batches from
    ``seeds[g]`` (the stream it would draw from alone); returns the mean losses and scores, one per replicate."""
    was_training = group.training
    group.eval()
    generators = {s: torch.Generator().manual_seed(s) for s in dict.fromkeys(seeds)}
    g_size = len(seeds)
    losses, scores = [0.0] * g_size, [0.0] * g_size
    try:
        for _ in range(batches):
            x, y = _group_batch(task, batch_size, generators, seeds, device, split, group)
            logits = group(x)  # (G, B, T, C)
            for g in range(g_size):
                losses[g] += task.loss(logits[g], y[g]).item()
                scores[g] += task.score(logits[g], y[g])
    finally:
        group.train(was_training)
    return [v / batches for v in losses], [v / batches for v in scores]


def _group_batch(
    task: Task,
    batch_size: int,
    generators: dict[int, torch.Generator],
    seeds: list[int],
    device: torch.device | str,
    split: str,
    group: Any,
) -> tuple[Tensor, Tensor]:
    """One batch per distinct seed, drawn as each replicate would alone, stacked as (G, B, ...): the
    replicates of one seed (at different learning rates) share it."""
    drawn = {s: task.sample(batch_size, gen, device, split=split) for s, gen in generators.items()}
    x = torch.stack([drawn[s][0] for s in seeds])
    y = torch.stack([drawn[s][1] for s in seeds])
    return _as_model_input(x, group), y


class _Replicate:
    """One replicate's record during a grouped run: its history windows, curve and divergence."""

    def __init__(self) -> None:
        self.history: list[dict] = []
        self.sums = [0.0, 0.0, 0]
        self.curve: list[list[float]] = []
        self.diverged_at: int | None = None

    def add(self, step: int, loss: float, score: float) -> None:
        """A training step's loss and score; a non-finite loss ends the record there, as :func:`train` stops."""
        if self.diverged_at is not None:
            return
        if not finite(loss):
            self.diverged_at = step
            return
        self.sums[0] += loss
        self.sums[1] += score
        self.sums[2] += 1

    def add_curve(self, step: int, seconds: float, score: float) -> None:
        """A learning-curve point; a non-finite validation score is a divergence at this step."""
        if self.diverged_at is not None:
            return
        if not finite(score):
            self.diverged_at = step
            return
        self.curve.append([step, seconds, score])

    def close_window(self, step: int) -> None:
        n = self.sums[2]
        if n and self.diverged_at is None:
            self.history.append({"step": step, "split": "train", "loss": self.sums[0] / n, "score": self.sums[1] / n})
        self.sums = [0.0, 0.0, 0]


def train_group(
    variant: str,
    task: Task,
    hidden_size: int,
    params: dict[str, Any],
    seeds: list[int],
    options: list[Options],
    device: torch.device | str = "cpu",
    *,
    progress: bool = False,
    dtype: torch.dtype | None = None,
) -> list[tuple[TrainResult, RecurrentVariant]]:
    """Train the replicates of one configuration, replicate g from seed ``seeds[g]`` with ``options[g]``
    (the options differ in ``lr`` alone); returns per replicate its :class:`TrainResult` and its trained
    model (for measurements of the trained model, such as gradient reach).

    Each replicate is built and initialised exactly as :func:`build_model` builds it alone, draws its
    batches from its own seed's stream (replicates of one seed share them, as they would alone) and has
    its own learning rate, optimizer state and gradient-norm clip; it gets its own history, learning
    curve, validation, test and transfer scores. Where the variant trains grouped
    (:meth:`~attnbench.variants.RecurrentVariant.trains_grouped`), there is more than one replicate and
    the run is eager (``compile="none"``), they train together as one :class:`~attnbench.groups.ReplicaGroup`;
    otherwise one after another with :func:`train`, which gives the same results.

    A replicate's training seconds (its curve, ``seconds_to_target``, ``wall_time_s``) are those of the
    group: the wall time the whole group took to get there (docs/schema.md). ``dtype`` (default: float32,
    as a model is built) is the parameters' type; inputs are cast to it.
    """
    from attnbench.variants import get_variant

    if len(seeds) != len(options) or not seeds:
        raise ValueError(f"train_group: {len(seeds)} seed(s) for {len(options)} option set(s)")
    base = options[0]
    for other in options[1:]:
        if other.replace(lr=base.lr) != base:
            raise ValueError("train_group: the replicates of a group differ in seed and lr only")
    grouped = len(seeds) > 1 and base.compile == "none" and get_variant(variant).trains_grouped()
    if not grouped:
        out = []
        for s, o in zip(seeds, options):
            model = build_model(variant, task, hidden_size, s, **params).to(dtype=dtype)
            out.append((train(model, task, o, device, seed=s, progress=progress), model))
        return out
    from attnbench.groups import GroupOptimizer, build_group, clip_group_grad_norm_, group_losses

    if base.train_steps < 1:
        raise ParameterError(f"train: train_steps={base.train_steps!r} is not allowed; expected an integer >= 1")
    seeds = [POINT_FIELDS["seed"].validate(s, "train") for s in seeds]
    device = torch.device(device)
    start = time.perf_counter()
    group = build_group(variant, task, hidden_size, seeds, **params).to(device=device, dtype=dtype).train()
    optimizer = GroupOptimizer(group, base.optimizer, [o.lr for o in options])
    generators = {s: torch.Generator().manual_seed(s) for s in dict.fromkeys(seeds)}
    steps, batch, g_size = base.train_steps, base.train_batch, len(seeds)
    window = max(1, steps // HISTORY_POINTS)
    target = check_target(task, base.target, "train") if base.target is not None else task.target
    marks, val_batches = curve_schedule(steps, base.curve_points, base.eval_batches)
    valid_seeds = [s + VALID_SEED_OFFSET for s in seeds]
    val_split = validation_split(task)  # "valid"; "train" (a stream of its own) for a task of plugin API 1
    reps = [_Replicate() for _ in seeds]
    val_time = 0.0
    show = progress and sys.stderr.isatty()
    with tqdm(total=steps, disable=not show, desc=f"{variant} x{g_size} on {task.name}", leave=False) as bar:
        for step in range(1, steps + 1):
            x, y = _group_batch(task, batch, generators, seeds, device, "train", group)
            logits = group(x)  # (G, B, T, C)
            losses = group_losses(task, logits, y)  # (G,)
            optimizer.zero_grad()
            losses.sum().backward()  # replicates are independent: each gets its own loss's gradient
            clip_group_grad_norm_(group, base.clip)
            optimizer.step()
            values = losses.tolist()  # the step's one synchronisation, as loss.item() alone
            detached = logits.detach()
            for g, rep in enumerate(reps):
                rep.add(step, values[g], task.score(detached[g], y[g]))
            if step % window == 0 or step == steps:
                for rep in reps:
                    rep.close_window(step)
            if step in marks:
                began = time.perf_counter()
                train_seconds = began - start - val_time
                _, val_scores = evaluate_group(group, task, val_batches, batch, valid_seeds, device, split=val_split)
                val_time += time.perf_counter() - began
                for rep, val_score in zip(reps, val_scores):
                    rep.add_curve(step, train_seconds, val_score)
            bar.update()
            if all(rep.diverged_at is not None for rep in reps):
                break  # nothing left to learn
    eval_seeds = [s + EVAL_SEED_OFFSET for s in seeds]
    eval_losses, scores = evaluate_group(group, task, base.eval_batches, batch, eval_seeds, device)
    transfer = {
        length: evaluate_group(group, other, base.eval_batches, batch, eval_seeds, device)[1]
        for length, other in task.transfer_tasks().items()
    }
    wall = time.perf_counter() - start
    results = []
    for g, rep in enumerate(reps):
        if rep.diverged_at is not None:  # as train() gives a run that diverged alone
            results.append(_diverged(rep.diverged_at, task, rep.history, rep.curve, target, wall, val_time))
            continue
        rep.history.append({"step": steps, "split": "test", "loss": eval_losses[g], "score": scores[g]})
        reached = time_to_target(rep.curve, target, task.higher_is_better)
        results.append(
            TrainResult(
                steps=steps,
                final_loss=rep.history[-2]["loss"] if len(rep.history) > 1 else math.nan,
                score=scores[g],
                metric=task.metric,
                higher_is_better=task.higher_is_better,
                chance=task.chance,
                transfer_scores={length: values[g] for length, values in transfer.items()},
                wall_time_s=wall,
                history=rep.history,
                curve=rep.curve,
                val_time_s=val_time,
                target=target,
                steps_to_target=reached[0],
                seconds_to_target=reached[1],
            )
        )
    return [(result, group.replica(g)) for g, result in enumerate(results)]
