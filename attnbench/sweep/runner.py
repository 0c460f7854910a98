"""Running a sweep: plan (resume, dry run, cost estimate), execute with a progress bar, summarise."""

from __future__ import annotations

import functools
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from attnbench.config import Job
from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.results import ResultsDir
from attnbench.sweep.executors import ProcessExecutor, SubmititExecutor
from attnbench.sweep.expand import expand
from attnbench.sweep.slurm import SlurmExecutor
from attnbench.sweep.spec import SweepSpec, parse_bytes
from attnbench.sweep.supervise import PointClaim
from attnbench.tasks import build_task
from attnbench.variants import get_variant
from attnbench.variants.base import Shape

RETRIED = ("error", "timeout")  # statuses --retry-failed runs again


@dataclass
class Plan:
    """The points of a sweep split into those to run and those already stored."""

    points: list[Job]
    todo: list[Job]
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan(spec: SweepSpec, out: Path, *, resume: bool, retry_failed: bool = False) -> Plan:
    """Expand ``spec`` and decide what to run; refuses to mix into a non-empty directory without --resume."""
    points = expand(spec)
    stored: dict[str, dict[str, Any]] = {}
    if (out / "points").is_dir():
        stored = ResultsDir(out).stored()
        if stored and not resume:
            raise UsageError(
                f"{str(out)!r} already holds {len(stored)} stored point(s); pass --resume to continue that sweep, "
                "or choose another --out"
            )
    keep = {pid for pid, row in stored.items() if not (retry_failed and row.get("status") in RETRIED)}
    todo = [p for p in points if p.point_id not in keep]
    return Plan(points, todo, stored)


@functools.lru_cache(maxsize=4096)
def _task_sizes(task: str, task_params: tuple[tuple[str, Any], ...]) -> tuple[int, int, int]:
    built = build_task(task, **dict(task_params))
    return built.seq_len, built.input_size, built.output_size


@functools.lru_cache(maxsize=65536)
def _analytic(variant: str, variant_params: tuple[tuple[str, Any], ...], shape: Shape) -> float | None:
    try:
        flops = get_variant(variant).analytic_flops(shape, **dict(variant_params))
    except ParameterError:  # a point skipped because its variant does not take an axis value
        return None
    return None if flops is None else flops.total


def estimate(job: Job) -> dict[str, Any]:
    """Cost estimate of a job from its variant's analytic FLOPs (None where the variant has none).

    Tasks and FLOP counts are computed once per distinct configuration, so a large grid's dry run is quick.
    """
    point, options = job
    seq_len, input_size, output_size = _task_sizes(point.task, point.task_params)
    shape = Shape(point.batch, seq_len, input_size, output_size, point.hidden_size)
    train_shape = Shape(options.train_batch, seq_len, input_size, output_size, point.hidden_size)
    try:
        per_step = _analytic(point.variant, point.variant_params, shape)
        train = _analytic(point.variant, point.variant_params, train_shape)
    except TypeError:  # an unhashable parameter value: no caching
        per_step = _analytic.__wrapped__(point.variant, point.variant_params, shape)
        train = _analytic.__wrapped__(point.variant, point.variant_params, train_shape)
    steps = options.warmup + options.repeats
    total = None
    if per_step is not None and train is not None:
        total = per_step * steps * 3 + train * options.train_steps  # timing + memory/FLOP passes + training
    return {
        "label": point.label,
        "task": point.task,
        "seq_len": seq_len,
        "step_gflop": per_step and per_step / 1e9,
        "total_gflop": total and total / 1e9,
        "skip": job.skip_reason or "",
    }


def dry_run_table(points: list[Job]) -> pd.DataFrame:
    """One row per point: label, task, length, analytic GFLOP per step and in all, skip reason."""
    return pd.DataFrame([estimate(p) for p in points])


def make_executor(kind: str, spec: SweepSpec, out: Path, slurm: dict[str, Any], wait: bool) -> Any:
    """The executor called ``kind``: process, local (submitit) or slurm (submitit)."""
    max_memory = parse_bytes(spec.max_memory) if spec.max_memory else None
    if kind == "process":
        return ProcessExecutor(spec.timeout_s, max_memory, spec.workers)
    if kind == "local":
        return SubmititExecutor(kind, out / "submitit", spec.timeout_s, max_memory)
    if kind == "slurm":
        executor = SlurmExecutor((out / "submitit").resolve(), spec.timeout_s, max_memory, slurm, wait)
        executor.check()
        return executor
    raise UsageError(f"unknown executor {kind!r}; expected process, local or slurm")


def run(spec: SweepSpec, out: Path, executor: Any, the_plan: Plan, progress: bool = True) -> pd.DataFrame:
    """Run the plan's points with ``executor``; returns the summary table of this run's points.

    With the process and local executors, each point is claimed (a lock file,
    :class:`~attnbench.sweep.supervise.PointClaim`) just before it runs: a point another sweep into the
    same directory is measuring, or has stored since this sweep planned, is skipped and listed in
    ``frame.attrs["elsewhere"]``.
    """
    results = ResultsDir(out)
    todo = the_plan.todo
    rows: list[dict[str, Any]] = []
    elsewhere: list[str] = []
    claims: dict[str, PointClaim] = {}
    started = time.perf_counter()
    bar = tqdm(total=len(todo), unit="point", disable=not progress, dynamic_ncols=True, file=sys.stderr)

    def claimed() -> Iterator[Job]:
        for job in todo:
            claim = PointClaim(results.points, job.point_id)
            if not claim.acquire():
                elsewhere.append(f"{job.label} ({job.point.task}): being measured by {claim.holder()}")
            elif results.read(job.point_id) not in (None, the_plan.stored.get(job.point_id)):
                claim.release()
                elsewhere.append(f"{job.label} ({job.point.task}): stored meanwhile by another sweep")
            else:
                claims[job.point_id] = claim
                yield job
                continue
            bar.update(1)

    def done(point: Job, row: dict[str, Any] | None) -> None:
        claim = claims.pop(point.point_id, None)
        if claim is not None:
            claim.release()
        if row is not None:
            rows.append(row)
            counts = Counter(r.get("status") for r in rows)
            bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) + f" | {point.label}")
        bar.update(1)

    try:
        # a lock held by this process claims a point measured by this machine; a Slurm array is submitted
        # at once and measured elsewhere (its jobs file lets a rerun collect it), and one open lock per point
        # of a large array would run out of file descriptors
        executor.run(iter(todo) if isinstance(executor, SlurmExecutor) else claimed(), results, done)
    finally:
        bar.close()
        for claim in claims.values():
            claim.release()
    frame = pd.DataFrame(rows)
    frame.attrs["wall_time_s"] = time.perf_counter() - started
    frame.attrs["submitted"] = getattr(executor, "submitted", 0)  # Slurm jobs left running (--no-wait)
    frame.attrs["elsewhere"] = elsewhere
    return frame


SUMMARY_COLUMNS = ["label", "task", "seq_len", "status", "step_time_s", "saved_bytes", "flops_fwd", "score", "error"]


def summary_text(frame: pd.DataFrame) -> str:
    """The end-of-sweep table plus wall-time accounting (measurement vs start-up and bookkeeping)."""
    submitted = frame.attrs.get("submitted", 0)
    left = f"{submitted} point(s) left running on Slurm; rerun the same command with --resume to collect them"
    left = left if submitted else ""
    if frame.empty:
        if left:
            return left
        if frame.attrs.get("elsewhere"):
            return "nothing ran here (the other points were measured by another sweep)"
        return "nothing ran (every point was already stored)"
    cols = [c for c in SUMMARY_COLUMNS if c in frame.columns]
    table = frame[cols].copy()
    if "error" in table:
        table["error"] = table["error"].fillna("").astype(str).str.slice(0, 60)
    lines = [table.to_string(index=False)]
    wall = frame.attrs.get("wall_time_s")
    inside = pd.to_numeric(frame.get("wall_time_s"), errors="coerce").sum()
    if wall and inside > wall:  # Slurm array tasks ran side by side
        lines.append(f"\n{len(frame)} point(s) in {wall:.1f} s: measuring {inside:.1f} s in all, in parallel jobs")
    elif wall:
        share = max(0.0, 1 - inside / wall)
        lines.append(
            f"\n{len(frame)} point(s) in {wall:.1f} s: measuring {inside:.1f} s, "
            f"start-up and bookkeeping {wall - inside:.1f} s ({share:.0%})"
        )
    counts = Counter(frame["status"]) if "status" in frame else Counter()
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if left:
        lines.append(left)
    return "\n".join(lines)
