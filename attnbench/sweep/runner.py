"""Running a sweep: plan (resume, dry run, cost estimate), execute with a progress bar, summarise."""

from __future__ import annotations

import functools
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from attnbench.config import POINT_FIELDS, Group, Job, Options, replicate_key
from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.results import ResultsDir
from attnbench.sweep.executors import ProcessExecutor, SubmititExecutor
from attnbench.sweep.expand import JobList, Jobs, Params, expand
from attnbench.sweep.slurm import SlurmExecutor
from attnbench.sweep.spec import SweepSpec, parse_bytes
from attnbench.sweep.supervise import PointClaim
from attnbench.tasks import build_task
from attnbench.variants import get_variant
from attnbench.variants.base import Shape

RETRIED = ("error", "timeout")  # statuses --retry-failed runs again


@dataclass
class Plan:
    """The points of a sweep split into those to run and those already stored.

    ``points`` is the lazy sequence of every job (:class:`~attnbench.sweep.expand.Jobs`), ``todo`` those
    still to run, generated as they are asked for; neither holds the grid in memory.
    """

    points: Jobs | JobList
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    keep: frozenset[str] = frozenset()  # ids stored and not to run again
    done: frozenset[int] = frozenset()  # the indices in ``points`` of the jobs among ``keep``

    @property
    def todo(self) -> Todo:
        """The jobs to run, in order."""
        return Todo(self.points, self.done, self.keep)


class Todo(Iterable[Job]):
    """The jobs of a plan still to run: ``len()`` is free, iterating builds one job at a time."""

    def __init__(self, points: Jobs | JobList, done: frozenset[int], keep: frozenset[str]) -> None:
        self.points, self.done, self.keep = points, done, keep

    def __len__(self) -> int:
        return len(self.points) - len(self.done)

    def __iter__(self) -> Iterator[Job]:
        jobs = self.points.iter(skip=self.done)
        # the ids stored are checked again, job by job: a row whose columns did not lead back to its job
        # (``done`` is built from them) still keeps its point from being measured twice
        return (job for job in jobs if job.point_id not in self.keep) if self.keep else jobs


def plan(
    spec: SweepSpec, out: Path, *, resume: bool, retry_failed: bool = False, jobs: Sequence[Job] | None = None
) -> Plan:
    """Expand ``spec`` and decide what to run; refuses to mix into a non-empty directory without --resume.

    The stored rows are read (one per stored point) and each is looked up in the grid from its
    configuration columns, so planning costs O(stored points + the grid's factors), not O(grid).
    ``jobs``, where given, are the points instead of ``spec``'s grid (``attnbench reproduce``: runs each
    with its own options); ``spec`` then says only how they run (workers, time limit, memory limit).
    """
    points = expand(spec) if jobs is None else jobs if isinstance(jobs, (Jobs, JobList)) else JobList(jobs)
    stored: dict[str, dict[str, Any]] = {}
    if (out / "points").is_dir():
        stored = ResultsDir(out).stored()
        if stored and not resume:
            raise UsageError(
                f"{str(out)!r} already holds {len(stored)} stored point(s); pass --resume to continue that sweep, "
                "or choose another --out"
            )
    keep = frozenset(pid for pid, row in stored.items() if not (retry_failed and row.get("status") in RETRIED))
    done = frozenset(i for i in (_locate(points, pid, stored[pid]) for pid in keep) if i is not None)
    return Plan(points, stored, keep, done)


def _locate(points: Jobs | JobList, point_id: str, row: dict[str, Any]) -> int | None:
    """The index in ``points`` of the stored ``row``'s job, or None (another sweep's point, or a damaged row)."""
    try:
        params = {
            k: json.loads(row[k]) if isinstance(row[k], str) else row[k] for k in ("variant_params", "task_params")
        }
        return points.locate(
            point_id,
            row["variant"],
            row["task"],
            params["variant_params"],
            params["task_params"],
            row["seed"],
            row["lr"],
        )
    except (KeyError, TypeError, ValueError):
        return None


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
    sizes = _task_sizes(point.task, point.task_params)
    seq_len, step, total = _costs(point.variant, point.variant_params, sizes, point, options)
    return {
        "label": point.label,
        "task": point.task,
        "seq_len": seq_len,
        "step_gflop": step,
        "total_gflop": total,
        "skip": job.skip_reason or "",
    }


def _costs(
    variant: str, variant_params: Params, task_sizes: tuple[int, int, int], point: Any, options: Options
) -> tuple[int, float | None, float | None]:
    """The task's length, and the analytic GFLOP of one step and of the whole measurement (or None);
    ``task_sizes`` as :func:`_task_sizes` gives them, ``point`` has the batch and hidden size."""
    seq_len, input_size, output_size = task_sizes
    shape = Shape(point.batch, seq_len, input_size, output_size, point.hidden_size)
    train_shape = Shape(options.train_batch, seq_len, input_size, output_size, point.hidden_size)
    try:
        per_step = _analytic(variant, variant_params, shape)
        train = _analytic(variant, variant_params, train_shape)
    except TypeError:  # an unhashable parameter value: no caching
        per_step = _analytic.__wrapped__(variant, variant_params, shape)
        train = _analytic.__wrapped__(variant, variant_params, train_shape)
    steps = options.warmup + options.repeats
    total = None
    if per_step is not None and train is not None:
        total = per_step * steps * 3 + train * options.train_steps  # timing + memory/FLOP passes + training
    return seq_len, per_step and per_step / 1e9, total and total / 1e9


def dry_run_table(points: Iterable[Job]) -> pd.DataFrame:
    """One row per point: label, task, length, analytic GFLOP per step and in all, skip reason."""
    return pd.DataFrame([estimate(p) for p in points])


@dataclass
class Totals:
    """What a plan's points to run add up to (see :func:`totals`)."""

    points: int  # to run
    stored: int  # of this sweep, stored already
    skipped: int  # of those to run, skipped as nonsense
    gflop: float  # analytic GFLOP of matrix multiplies in all, of those to run


def totals(the_plan: Plan) -> Totals:
    """Count and cost of the points to run, one estimate per (variant configuration, task configuration,
    learning rate), times the seeds, less the points already stored: no job is built, whatever the grid's size.
    """
    points = the_plan.points
    sizes = SimpleNamespace(**{k: points.settings.get(k, POINT_FIELDS[k].default) for k in ("batch", "hidden_size")})
    skipped, gflop = 0, 0.0
    seeds = len(points.seeds)
    task_sizes: dict[str, list[tuple[int, int, int]]] = {}  # each task configuration built once
    for block in points.blocks:
        variant_cls = get_variant(block.variant)
        if block.task not in task_sizes:
            task_sizes[block.task] = [_task_sizes.__wrapped__(block.task, c) for c in block.task_configs]
        for params, rejected in block.combos:
            for task_size in task_sizes[block.task]:
                skip = rejected is not None or variant_cls.skip(task_size[0], **dict(params)) is not None
                skipped += skip * seeds * len(points.options)
                for options in points.options:
                    total = _costs(block.variant, params, task_size, sizes, options)[2]
                    gflop += (total or 0.0) * seeds
    for index in the_plan.done:
        job = points[index]
        skipped -= job.skip_reason is not None
        gflop -= estimate(job)["total_gflop"] or 0.0
    stored = len(the_plan.done)
    return Totals(len(points) - stored, stored, skipped, max(gflop, 0.0))


def duration(seconds: float) -> str:
    """``seconds`` for a reader: 40 s, 12 min, 3.5 h, 6.2 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"


def eta_text(the_plan: Plan, spec: SweepSpec) -> str:
    """How long the points to run take, ``spec.workers`` groups at a time: from the median wall time of the
    groups stored (with --resume; a group of G replicates is one job), else only the bound the time limit
    sets (a group's limit is a point's times its size)."""
    n = len(the_plan.todo)
    points = the_plan.points
    size = max(1, min(spec.group_size, len(getattr(points, "seeds", ())) * len(getattr(points, "options", ())) or 1))
    jobs = -(-n // size)  # replicate groups to run (fewer where a configuration has fewer replicates left)
    workers = max(1, min(spec.workers, jobs)) if jobs else 1
    rounds = -(-jobs // workers)  # groups one worker measures, one after another
    rows = [
        row
        for row in the_plan.stored.values()
        if row.get("status") != "skipped"  # stored at once, never run
        and isinstance(row.get("wall_time_s"), (int, float))
        and math.isfinite(row["wall_time_s"])
    ]
    side = f", {workers} at a time" if workers > 1 else ""
    unit = f"group of {size} replicates" if size > 1 else "point"
    limit = spec.timeout_s * size
    bound = f"at most {duration(rounds * limit)} at the {duration(limit)} time limit per {unit}{side}"
    alike = [r["wall_time_s"] for r in rows if _group_size(r) == size]  # groups of this size: one job each
    if alike:
        median = statistics.median(alike)
        return (
            f"about {duration(rounds * median)} at the median {median:.1f} s per {unit} of the {len(alike)} stored "
            f"({bound})"
        )
    if rows:  # rows of other group sizes: their time per replicate, run one after another
        median = statistics.median(r["wall_time_s"] / _group_size(r) for r in rows)
        return (
            f"about {duration(-(-n // workers) * median)} at the median {median:.1f} s per point of the "
            f"{len(rows)} stored ({bound})"
        )
    return f"{bound}; the progress bar gives an estimate once points finish"


def _group_size(row: dict[str, Any]) -> int:
    """How many replicates trained together in ``row``'s job (1 for rows written before groups)."""
    size = row.get("group_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 1


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


def replicate_groups(jobs: Iterable[Job], size: int) -> Iterator[Group]:
    """``jobs`` as replicate groups of at most ``size``: consecutive jobs of one configuration that differ only
    in seed and learning rate (a sweep's expansion puts them side by side: seeds, then lrs, innermost).

    Lazy: a group is built when asked for, so a grid of millions of points is never held whole.
    """
    members: list[Job] = []
    key: Any = None
    for job in jobs:
        job_key = replicate_key(job) if size > 1 else None
        if members and (job_key != key or len(members) >= size):
            yield Group(tuple(members))
            members = []
        members.append(job)
        key = job_key
    if members:
        yield Group(tuple(members))


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

    def claimed() -> Iterator[Group]:
        for group in replicate_groups(todo, spec.group_size):
            members = []
            for job in group.jobs:  # each member claimed on its own: no replicate is trained twice
                claim = PointClaim(results.points, job.point_id)
                if not claim.acquire():
                    elsewhere.append(f"{job.label} ({job.point.task}): being measured by {claim.holder()}")
                elif results.read(job.point_id) not in (None, the_plan.stored.get(job.point_id)):
                    claim.release()
                    elsewhere.append(f"{job.label} ({job.point.task}): stored meanwhile by another sweep")
                else:
                    claims[job.point_id] = claim
                    members.append(job)
                    continue
                bar.update(1)
            if members:
                yield Group(tuple(members))

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
        groups = replicate_groups(todo, spec.group_size) if isinstance(executor, SlurmExecutor) else claimed()
        executor.run(groups, results, done)
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
    walls = pd.to_numeric(frame.get("wall_time_s"), errors="coerce")
    sizes = pd.to_numeric(frame.get("group_size", pd.Series(1, index=frame.index)), errors="coerce").fillna(1)
    inside = (walls / sizes.clip(lower=1)).sum()  # a group's wall time is in each of its rows: counted once
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
