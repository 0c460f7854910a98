"""Where points run: a fresh local process each (default), or jobs through submitit (local or Slurm).

``process`` (default): each point in its own process, one at a time (measurements must not share the
machine; ``--workers N`` runs N side by side), forked from a server process that has already imported
torch and attnbench, so a point pays milliseconds, not seconds, of start-up. ``submitit-local``: each
point as a submitit local job, one at a time (what the tests use). ``slurm``: all points as one Slurm
job array through submitit; each job writes its row into the (shared) results directory (:mod:`attnbench.sweep.slurm`).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from attnbench.config import Job  # a point and its options
from attnbench.results import ResultsDir
from attnbench.sweep.supervise import Reaper, start_forkserver
from attnbench.sweep.worker import STORE_FAILED, failure_row, run_point

Done = Callable[[Job, dict[str, Any] | None], None]

# imported before a point's clock starts (torch._dynamo is pulled in by the FLOP counter and alone
# takes seconds to import): in the process executor's server, and in a Slurm job before its time limit
PRELOAD = ("attnbench.sweep.worker", "attnbench.measure", "attnbench.tasks", "attnbench.training", "torch._dynamo")


def _stored(results: ResultsDir, point: Job, since: float) -> dict[str, Any] | None:
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
    if code == STORE_FAILED:
        return "error", "the worker measured the point but could not store it (disk full, or the folder not writable)"
    return "error", f"worker exited with code {code} without storing a result"


@dataclass
class _InFlight:
    point: Job
    proc: Any
    started: float  # wall clock, to recognise the row this run stored
    t0: float  # perf_counter at start
    deadline: float  # perf_counter past which the point is a timeout


@dataclass
class ProcessExecutor:
    """Each point in a fresh process forked from a pre-warmed server, with a time limit.

    One point at a time by default: measurements must not share the machine. ``workers`` > 1 runs that
    many points side by side (accuracy runs of several seeds on a machine with cores to spare); their
    timings then share the machine's memory bandwidth and caches, and each should use ``threads`` <=
    cores / workers.
    """

    timeout_s: float
    max_memory: int | None = None
    workers: int = 1
    _ctx: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            # imported once in the server, so a point's process starts with them loaded (torch._dynamo is
            # pulled in by the FLOP counter and alone takes seconds to import)
            self._ctx.set_forkserver_preload(list(PRELOAD))

    def run(self, points: Iterable[Job], results: ResultsDir, done: Done) -> None:
        """Run ``points`` in order, up to ``workers`` at once; call ``done(point, row)`` after each is stored.

        A :class:`~attnbench.sweep.supervise.Reaper` kills the workers in flight and removes the
        forkserver's temporary folder if this process dies without cleaning up (``kill -9``).
        """
        reaper = Reaper.of_this_process()
        folder = start_forkserver(self._ctx)
        if folder:
            reaper.folder(folder)
        pending = iter(points)
        flying: list[_InFlight] = []
        try:
            while True:
                while len(flying) < max(1, self.workers):
                    point = next(pending, None)
                    if point is None:
                        break
                    flying.append(self._start(point, results, reaper))
                if not flying:
                    return
                now = time.perf_counter()
                wait([f.proc.sentinel for f in flying], timeout=max(0.0, min(f.deadline for f in flying) - now))
                now = time.perf_counter()
                for f in [f for f in flying if not f.proc.is_alive() or now >= f.deadline]:
                    flying.remove(f)
                    self._finish(f, results, done, reaper)
        except BaseException:  # Ctrl-C or SIGTERM: the points in flight are lost, nothing else
            for f in flying:
                _stop(f.proc, results, f.point)
            raise

    def _start(self, point: Job, results: ResultsDir, reaper: Reaper) -> _InFlight:
        args = (point.to_json(), str(results.path), self.max_memory, self.timeout_s)
        proc = self._ctx.Process(target=run_point, args=args)
        started, t0 = time.time(), time.perf_counter()
        try:
            proc.start()  # the first start waits for the forkserver's imports: not the point's time
        except BaseException:
            _stop(proc, results, point)
            raise
        reaper.worker(proc.pid)
        return _InFlight(point, proc, started, t0, time.perf_counter() + self.timeout_s)

    def _finish(self, f: _InFlight, results: ResultsDir, done: Done, reaper: Reaper) -> None:
        proc, point = f.proc, f.point
        if proc.is_alive():
            _stop(proc, results, point)
            row = failure_row(point, "timeout", f"ran past the {self.timeout_s:g} s limit", time.perf_counter() - f.t0)
            results.write(row)
        else:
            proc.join()
            row = _stored(results, point, f.started)
            if row is None:
                status, message = _exit_message(proc.exitcode)
                row = failure_row(point, status, message, time.perf_counter() - f.t0)
                results.write(row)
        reaper.done(proc.pid)
        done(point, row)


def _stop(proc: Any, results: ResultsDir | None = None, point: Job | None = None) -> None:
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
    """Points as submitit local jobs, one at a time (``--executor local``; Slurm is :class:`SlurmExecutor`)."""

    cluster: str
    folder: Path
    timeout_s: float
    max_memory: int | None = None

    def run(self, points: Iterable[Job], results: ResultsDir, done: Done) -> None:
        """Run ``points`` in order as local jobs; call ``done(point, row)`` after each one is stored."""
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder.resolve(), cluster=self.cluster)
        executor.update_parameters(timeout_min=max(1, int(self.timeout_s // 60) + 1), name="attnbench")
        for point in points:
            t0 = time.perf_counter()
            job = executor.submit(run_point, point.to_json(), str(results.path.resolve()), self.max_memory)
            try:
                job.result()
            except Exception as exc:  # the job failed outside our worker's own handling
                if (row := results.read(point.point_id)) is None or row.get("status") == "ok":
                    message = " ".join(str(exc).split())[-500:]
                    row = failure_row(point, "error", f"job {job.job_id} failed: {message}", time.perf_counter() - t0)
                    results.write(row)
            else:
                if (row := results.read(point.point_id)) is None:
                    message = f"job {job.job_id} finished without storing a result"
                    row = failure_row(point, "error", message, time.perf_counter() - t0)
                    results.write(row)
            done(point, row)
