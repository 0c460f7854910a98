"""``measure(point, options)``: every figure of one configuration from one built model, as one result row.

Order matters: the compilation when ``options.compile`` asks for one (:mod:`attnbench.measure.compiled`;
its own figure, ``compile_time_s``), the matrix-multiply rate (cached per process), then with fresh
peak-memory marks the timed forward passes and training steps, the energy window (GPU), the
saved-tensor count and the FLOP count (of the eager model; both slow the call down, so they come after
the clock), the accuracy run (it changes the weights), and gradient reach on the trained model. A
figure that cannot be had is None with its reason in ``missing``; nothing is ever 0 by default.

The timed forward pass records the autograd graph, as the forward of a training step does, so
``step_time_s - fwd_time_s`` is the loss and backward; a training step is ``zero_grad``, forward,
the task's loss and backward (no optimiser update).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor

from attnbench.config import Job, Options, Point, config_columns
from attnbench.measure import energy as energy_mod
from attnbench.measure import flops as flops_mod
from attnbench.measure import memory, reach
from attnbench.measure._device import Unavailable
from attnbench.measure.allocator import keep_freed_memory
from attnbench.measure.compiled import CompileFailed, compile_model, compile_step
from attnbench.measure.environment import environment
from attnbench.measure.timing import time_fn
from attnbench.results import _jsonable
from attnbench.schema import empty_row
from attnbench.tasks.base import Task
from attnbench.variants import RecurrentVariant, Shape

R = TypeVar("R")
JSON_COLUMNS = ("variant_params", "task_params", "transfer_scores", "grad_reach", "val_curve", "missing")


class _Row:
    """A result row under construction, with its ``missing`` reasons."""

    def __init__(self) -> None:
        self.row = empty_row()
        self.missing: dict[str, str] = {}
        self.diverged: str | None = None  # why the accuracy run diverged, if it did

    def attempt(self, columns: tuple[str, ...], fn: Callable[[], R]) -> R | None:
        """``fn()``; on :class:`Unavailable` the columns are None with its reason."""
        try:
            return fn()
        except Unavailable as exc:
            self.lack(columns, str(exc))
            return None

    def lack(self, columns: tuple[str, ...], reason: str) -> None:
        for column in columns:
            self.row[column] = None
            self.missing.setdefault(column, reason)

    def set(self, **values: Any) -> None:
        self.row.update(values)


def _batch(task: Task, point: Point, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(point.seed)
    x, y = task.sample(point.batch, generator, device)
    x = x.to(dtype) if x.is_floating_point() else x
    y = y.to(dtype) if y.is_floating_point() else y
    return x, y


def measure(point: Point, options: Options | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Measure one configuration; return one row with every column of :mod:`attnbench.schema`.

    The JSON columns (:data:`JSON_COLUMNS`) hold JSON text, e.g. ``missing`` is ``'{"energy_j": "..."}'``.
    ``options`` defaults to ``Options()``; ``progress`` shows a bar during the accuracy run.

    Raises :class:`~attnbench.params.ParameterError` / ``UnknownNameError`` for a configuration that
    cannot be built here (a device this machine lacks). A combination the variant's ``skip`` rejects
    gives a row with status ``skipped`` and the reason in ``error``.
    """
    return measure_group([Job(point, options or Options())], progress=progress)[0]


def measure_group(jobs: Sequence[Job], *, progress: bool = False) -> list[dict[str, Any]]:
    """Measure a replicate group: jobs of one configuration that differ only in seed and learning rate.

    The cost figures (time, memory, FLOPs, energy) are those of one model, measured once, on the first
    job's model (a seed or a learning rate does not change what a model costs), and recorded in every
    replicate's row; the accuracy run trains the replicates together
    (:func:`~attnbench.training.train_group`), each with its own seed, lr, scores and curve. Returns one
    row per job, in order, each with ``group_size`` = ``len(jobs)``. A group of one is :func:`measure`.
    """
    if not jobs:
        raise ValueError("measure_group: no jobs")
    lead = jobs[0]
    point, options = lead.point, lead.options
    started = time.perf_counter()
    keep_freed_memory()  # timings of the computation, not of page faults
    device, dtype = point.torch_device(), point.torch_dtype()
    task = point.build_task()
    out = _Row()
    out.set(**{**config_columns(point, options), "device": str(device)})  # where it ran: cuda -> cuda:0
    rows = [out]
    skip = point.skip_reason  # the variant's own skip, or an axis value it does not take (a sweep's)
    if skip is None:
        try:
            model, x, y = _measure_into(out, point, options, task, device, dtype)
            rows = _train_rows(out, jobs, task, model, x, y, device, progress)
        except CompileFailed as exc:  # stored with its reason, like any failed point; the sweep goes on
            out.lack(("compile_time_s",), str(exc))
            out.set(status="error", error=str(exc))
    else:
        out.set(status="skipped", error=skip)
    if len(rows) < len(jobs):  # skipped or failed before training: every replicate gets the same row
        rows = [_member(out, job) for job in jobs]
    env, env_missing = environment(device)
    finished = []
    for each in rows:
        each.set(**env)
        each.missing.update(env_missing)
        each.set(missing=dict(sorted(each.missing.items())), wall_time_s=time.perf_counter() - started)
        each.set(group_size=len(jobs))
        if each.diverged is not None and each.row.get("status") == "ok":  # measured, but its run diverged
            each.set(status="diverged", error=each.diverged)
        for column in JSON_COLUMNS:  # stored as JSON text, like every other producer of rows
            if each.row[column] is not None and not isinstance(each.row[column], str):
                # no NaN or Infinity in stored JSON text (strict readers reject it): such a value is null
                each.row[column] = json.dumps(_jsonable(each.row[column]), sort_keys=True, allow_nan=False)
        finished.append(each.row)
    return finished


def _member(out: _Row, job: Job) -> _Row:
    """A copy of ``out`` (the figures of one model) as the row of ``job``: its configuration columns."""
    row = _Row()
    row.row = copy.deepcopy(out.row)
    row.missing = dict(out.missing)
    row.set(**{**config_columns(job.point, job.options), "device": out.row["device"]})
    return row


def _measure_into(
    out: _Row,
    point: Point,
    options: Options,
    task: Task,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[RecurrentVariant, Tensor, Tensor]:
    """The cost figures of ``point``'s model into ``out``; returns the model and its batch."""
    variant_cls, params = point.variant_cls(), point.params
    model = point.build_model(task)
    x, y = _batch(task, point, device, dtype)
    b, t_len, h = point.batch, task.seq_len, point.hidden_size
    timed = compile_model(model, options.compile)  # the model itself unless compile is asked for

    def forward() -> Tensor:
        return timed(x).logits

    def step() -> None:
        model.zero_grad(set_to_none=True)
        task.loss(timed(x).logits, y).backward()

    first_step = None
    if options.compile == "none":
        out.lack(("compile_time_s",), "compile=none: eager")
    else:  # compiled now, forward and backward, before any clock runs
        first_step = compile_step(step, options.compile)

    # the machine's matmul rate at the size of the gate product every variant runs each step
    rate = flops_mod.matmul_rate(b, h, 4 * h, device, dtype)

    # ----- time and peak memory ------------------------------------------------------------------
    memory.reset_peak_rss()
    memory.reset_cuda_peaks(device)
    fwd = time_fn(forward, repeats=options.repeats, warmup=options.warmup, device=device, label="forward")
    stp = time_fn(step, repeats=options.repeats, warmup=options.warmup, device=device, label="step")
    out.set(**fwd.columns("fwd_time"), **stp.columns("step_time"))
    if first_step is not None:
        out.set(compile_time_s=max(first_step - stp.median, 0.0))
    if stp.median <= 0:  # below the clock's resolution: no rate can be derived
        out.lack(("tokens_per_s", "flops_per_s", "peak_fraction"), "training step faster than the clock resolves")
    else:
        out.set(tokens_per_s=b * t_len / stp.median)
    out.set(rss_peak_bytes=memory.peak_rss_bytes())
    peaks = out.attempt(("cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes"), lambda: memory.cuda_peaks(device))
    if peaks is not None:
        out.set(cuda_peak_allocated_bytes=peaks[0], cuda_peak_reserved_bytes=peaks[1])
    out.set(nvml_used_bytes=out.attempt(("nvml_used_bytes",), lambda: memory.nvml_used_bytes(device)))

    # ----- energy (NVIDIA GPUs) ------------------------------------------------------------------
    reading = out.attempt(
        ("energy_j", "power_w"),
        lambda: energy_mod.measure_energy(step, device, min_window_s=options.energy_window_s),
    )
    if reading is not None:
        out.set(energy_j=reading.joules_per_step, power_w=reading.watts)

    # ----- saved bytes and FLOPs (instrumented, after the clock; of the eager model, the algorithm's) --

    def eager_forward() -> Tensor:
        return model(x).logits

    model.zero_grad(set_to_none=True)
    out.set(saved_bytes=memory.saved_bytes(eager_forward, exclude=[*model.parameters(), x, y]))
    counted, _ = flops_mod.count_flops(eager_forward, lambda logits: task.loss(logits, y).backward())
    model.zero_grad(set_to_none=True)
    out.set(flops_fwd=counted.forward, flops_bwd=counted.backward, matmul_flops_per_s=rate)
    if stp.median > 0:
        per_s = counted.total / stp.median
        out.set(flops_per_s=per_s, peak_fraction=per_s / rate)
    analytic = variant_cls.analytic_flops(Shape(b, t_len, task.input_size, task.output_size, h), **params)
    if analytic is None:
        out.lack(("flops_fwd_analytic", "flops_bwd_analytic"), f"variant {variant_cls.name!r} has no analytic_flops")
    else:
        out.set(flops_fwd_analytic=analytic.forward, flops_bwd_analytic=analytic.backward)

    out.set(score_metric=task.metric, higher_is_better=task.higher_is_better, chance=task.chance, status="ok", error="")
    return model, x, y


def _train_rows(
    out: _Row,
    jobs: Sequence[Job],
    task: Task,
    model: RecurrentVariant,
    x: Tensor,
    y: Tensor,
    device: torch.device,
    progress: bool,
) -> list[_Row]:
    """The accuracy run of every replicate (together where the variant can), then gradient reach on each
    trained model: one row per job, each starting from the cost figures in ``out``."""
    options = jobs[0].options
    rows = [_member(out, job) for job in jobs] if len(jobs) > 1 else [out]
    if options.train_steps == 0:
        for row in rows:
            row.lack((*TRAIN_COLUMNS, *CURVE_COLUMNS), "train_steps=0: no accuracy run")
        trained = [model] * len(rows)
    elif len(jobs) == 1:  # today's run: the measured model itself is trained
        from attnbench.training import train

        point = jobs[0].point
        result = train(model, task, options, device=device, seed=point.seed, progress=progress)
        _train_into(out, options, task, result)
        trained = [model]
    else:
        from attnbench.training import train_group

        point = jobs[0].point
        seeds = [job.point.seed for job in jobs]
        runs = train_group(
            point.variant, task, point.hidden_size, point.params, seeds, [job.options for job in jobs], device,
            progress=progress,
        )  # fmt: skip
        for row, (result, _) in zip(rows, runs):
            _train_into(row, options, task, result)
        trained = [trained_model for _, trained_model in runs]
    dtype = next(model.parameters()).dtype
    for job, row, trained_model in zip(jobs, rows, trained):
        if row.diverged is not None:  # the trained weights are not numbers: no gradient to measure
            row.lack(("grad_reach",), row.diverged)
        elif options.reach:
            if trained_model is not model:  # a replicate of a group: its own seed's batch, as it would alone
                trained_model = trained_model.to(device=x.device, dtype=dtype)
                x, y = _batch(task, job.point, x.device, dtype)
            row.set(grad_reach=reach.gradient_reach(trained_model, task, x, y))
        else:
            row.lack(("grad_reach",), "not asked for (reach=False)")
    return rows


TRAIN_COLUMNS = ("score", "final_loss", "train_time_s", "transfer_scores")
CURVE_COLUMNS = ("val_score", "val_curve", "val_time_s", "steps_to_target", "seconds_to_target")


def _train_into(out: _Row, options: Options, task: Task, result: Any) -> None:
    """A training result's columns into ``out`` (a run that diverged: its reason, and no scores)."""
    if result.diverged_at is not None:
        from attnbench.training import diverged_reason

        out.diverged = diverged_reason(result.diverged_at)
        kept = ("train_time_s", "val_curve", "val_time_s") if result.curve else ("train_time_s",)
        out.lack(tuple(c for c in (*TRAIN_COLUMNS, *CURVE_COLUMNS) if c not in kept), out.diverged)
        out.set(train_time_s=result.wall_time_s)
        if result.curve:  # the curve up to the divergence, finite points only
            out.set(val_curve=result.curve, val_time_s=result.val_time_s)
        else:
            out.lack(("val_curve", "val_time_s"), out.diverged)
        return
    out.set(score=result.score, final_loss=result.final_loss, train_time_s=result.wall_time_s)
    if result.curve:
        out.set(val_curve=result.curve, val_score=result.curve[-1][2], val_time_s=result.val_time_s)
        if result.target is None:
            out.lack(("steps_to_target", "seconds_to_target"), f"task {task.name!r} declares no target")
        elif result.steps_to_target is None:
            out.lack(("steps_to_target", "seconds_to_target"), f"not reached in {options.train_steps} steps")
        else:
            out.set(steps_to_target=result.steps_to_target, seconds_to_target=result.seconds_to_target)
    else:
        out.lack(CURVE_COLUMNS, "curve_points=0: no learning curve")
    if result.transfer_scores:
        out.set(transfer_scores={str(k): v for k, v in sorted(result.transfer_scores.items())})
    else:
        out.lack(("transfer_scores",), f"task {task.name!r} has no transfer evaluation")


__all__ = ["CURVE_COLUMNS", "JSON_COLUMNS", "TRAIN_COLUMNS", "measure", "measure_group"]
