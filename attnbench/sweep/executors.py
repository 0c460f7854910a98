"""Where points run: a fresh local process each (default), or jobs through submitit (local or Slurm).

``process`` (default): each point in its own process, one at a time (measurements must not share the
machine), forked from a server process that has already imported torch and attnbench, so a point
pays milliseconds, not seconds, of start-up. ``submitit-local``: each point as a submitit local job,
one at a time (what the tests use). ``slurm``: all points as one Slurm job array through submitit;
each job writes its row into the (shared) results directory.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.results import ResultsDir
from attnbench.sweep.expand import Point
from attnbench.sweep.supervise import Reaper, start_forkserver
from attnbench.sweep.worker import failure_row, run_point

Done = Callable[[Point, dict[str, Any] | None], None]


def _stored(results: ResultsDir, point: Point, since: float) -> dict[str, Any] | None:
    """The row the worker stored for ``point`` during this run, if any."""
    path = results.point_path(point.point_id)
    if path.exists() and path.stat().st_mtime >= since - 1:
        return results.read(point.point_id)
    return None


def _exit_message(code: int | None) -> tuple[str, str]:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        if -code == signal.SIGKILL:
            return "error", f"worker killed by {sig} (the kernel's out-of-memory killer, or an external kill)"
        return "error", f"worker killed by {sig}"
    return "error", f"worker exited with code {code} without storing a result"


@dataclass
class ProcessExecutor:
    """Each point in a fresh process forked from a pre-warmed server, one at a time, with a time limit."""

    timeout_s: float
    max_memory: int | None = None
    _ctx: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            # imported once in the server, so a point's process starts with them loaded (torch._dynamo is
            # pulled in by the FLOP counter and alone takes seconds to import)
            preload = ["attnbench.sweep.worker", "attnbench.measure", "attnbench.tasks", "attnbench.training"]
            self._ctx.set_forkserver_preload([*preload, "torch._dynamo"])

    def run(self, points: Iterable[Point], results: ResultsDir, done: Done) -> None:
        """Run ``points`` in order; call ``done(point, row)`` after each one is stored.

        A :class:`~attnbench.sweep.supervise.Reaper` kills the worker in flight and removes the
        forkserver's temporary folder if this process dies without cleaning up (``kill -9``).
        """
        reaper = Reaper.of_this_process()
        folder = start_forkserver(self._ctx)
        if folder:
            reaper.folder(folder)
        for point in points:
            self._run_one(point, results, done, reaper)

    def _run_one(self, point: Point, results: ResultsDir, done: Done, reaper: Reaper) -> None:
        started = time.time()
        t0 = time.perf_counter()
        args = (point.to_json(), str(results.path), self.max_memory, self.timeout_s)
        proc = self._ctx.Process(target=run_point, args=args)
        try:
            proc.start()
            reaper.worker(proc.pid)
            proc.join(self.timeout_s)
        except BaseException:  # Ctrl-C or SIGTERM: the point in flight is lost, nothing else
            _stop(proc, results, point)
            raise
        if proc.is_alive():
            _stop(proc, results, point)
            row = failure_row(point, "timeout", f"ran past the {self.timeout_s:g} s limit", time.perf_counter() - t0)
            results.write(row)
        else:
            row = _stored(results, point, started)
            if row is None:
                status, message = _exit_message(proc.exitcode)
                row = failure_row(point, status, message, time.perf_counter() - t0)
                results.write(row)
        reaper.done(proc.pid)
        done(point, row)


def _stop(proc: Any, results: ResultsDir | None = None, point: Point | None = None) -> None:
    if proc.pid is not None:
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if results is not None and point is not None:  # a write cut short leaves its temporary file
        for tmp in results.tmp_files(point.point_id):
            tmp.unlink(missing_ok=True)


@dataclass
class SubmititExecutor:
    """Points as submitit jobs: ``cluster="local"`` one job at a time, ``"slurm"`` one job array."""

    cluster: str
    folder: Path
    timeout_s: float
    max_memory: int | None = None
    slurm: dict[str, Any] = field(default_factory=dict)  # partition, gpus_per_node, cpus_per_task, mem_gb, ...
    wait: bool = True

    def _executor(self) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        params: dict[str, Any] = {"timeout_min": max(1, int(self.timeout_s // 60) + 1), "name": "attnbench"}
        if self.cluster == "slurm":
            params.update(
                {f"slurm_{k}" if k in ("partition", "array_parallelism") else k: v for k, v in self.slurm.items()}
            )
        executor.update_parameters(**params)
        return executor

    def run(self, points: Iterable[Point], results: ResultsDir, done: Done) -> None:
        """Submit ``points``; record each job's outcome as it completes (or only submit when not waiting)."""
        executor = self._executor()
        points = list(points)
        if self.cluster == "local":
            for point in points:
                job = executor.submit(run_point, point.to_json(), str(results.path), self.max_memory)
                done(point, self._collect(point, job, results))
            return
        with executor.batch():
            jobs = [executor.submit(run_point, p.to_json(), str(results.path), self.max_memory) for p in points]
        if not self.wait:
            for point in points:
                done(point, None)
            return
        for point, job in zip(points, jobs):
            done(point, self._collect(point, job, results))

    def _collect(self, point: Point, job: Any, results: ResultsDir) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            job.result()
        except Exception as exc:  # the job failed outside our worker's own handling
            state = str(getattr(job, "state", "")).upper()
            status = "timeout" if "TIMEOUT" in state else "oom" if "MEMORY" in state else "error"
            stored = results.read(point.point_id)
            if stored is not None and stored.get("status") != "ok":
                return stored
            row = failure_row(
                point,
                status,
                f"job {job.job_id} {state or 'failed'}: {str(exc).splitlines()[0]}",
                time.perf_counter() - t0,
            )
            results.write(row)
            return row
        row = results.read(point.point_id)
        if row is None:
            row = failure_row(point, "error", f"job {job.job_id} finished without storing a result", 0.0)
            results.write(row)
        return row
