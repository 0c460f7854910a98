"""Where points run: a fresh local process each (default), or jobs through submitit (local or Slurm).

The unit they run is a replicate group (:class:`~attnbench.config.Group`): the jobs of one configuration
that differ only in seed and learning rate, measured in one process and trained together; a sweep of one
seed and one learning rate runs groups of one, each point alone as before. A group's time and memory limits
are a point's times its size; ``done`` is called once per member, with its row.

``process`` (default): each group in its own process, one at a time (measurements must not share the
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

from attnbench.config import Group, Job
from attnbench.results import ResultsDir
from attnbench.sweep.supervise import Reaper, start_forkserver
from attnbench.sweep.worker import STORE_FAILED, failure_rows, group_limits, run_point

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
    group: Group
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

    def run(self, points: Iterable[Group], results: ResultsDir, done: Done) -> None:
        """Run the groups ``points`` in order, up to ``workers`` at once; call ``done(job, row)`` for each member
        once its row is stored.

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
                _stop(f.proc, results, f.group)
            raise

    def _start(self, group: Group, results: ResultsDir, reaper: Reaper) -> _InFlight:
        timeout_s, max_memory = group_limits(len(group.jobs), self.timeout_s, self.max_memory)
        args = (group.to_json(), str(results.path), max_memory, timeout_s)
        proc = self._ctx.Process(target=run_point, args=args)
        started, t0 = time.time(), time.perf_counter()
        try:
            proc.start()  # the first start waits for the forkserver's imports: not the point's time
        except BaseException:
            _stop(proc, results, group)
            raise
        reaper.worker(proc.pid)
        return _InFlight(group, proc, started, t0, time.perf_counter() + timeout_s)

    def _finish(self, f: _InFlight, results: ResultsDir, done: Done, reaper: Reaper) -> None:
        proc, group = f.proc, f.group
        elapsed = time.perf_counter() - f.t0
        if proc.is_alive():
            _stop(proc, results, group)
            limit = group_limits(len(group.jobs), self.timeout_s, None)[0]
            status, message = "timeout", f"ran past the {limit:g} s limit"
        else:
            proc.join()
            status, message = _exit_message(proc.exitcode)
        failures = failure_rows(group, status, message, elapsed)
        for job, failure in zip(group.jobs, failures):
            row = None if status == "timeout" else _stored(results, job, f.started)
            if row is None:
                row = failure
                results.write(row)
            done(job, row)
        reaper.done(proc.pid)


def _stop(proc: Any, results: ResultsDir | None = None, group: Group | None = None) -> None:
    if proc.pid is not None:
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if results is not None and group is not None:  # a write cut short leaves its temporary file
        for point_id in group.point_ids:
            for tmp in results.tmp_files(point_id):
                tmp.unlink(missing_ok=True)


@dataclass
class SubmititExecutor:
    """Points as submitit local jobs, one at a time (``--executor local``; Slurm is :class:`SlurmExecutor`)."""

    cluster: str
    folder: Path
    timeout_s: float
    max_memory: int | None = None

    def run(self, points: Iterable[Group], results: ResultsDir, done: Done) -> None:
        """Run the groups ``points`` in order as local jobs; call ``done(job, row)`` for each member once stored."""
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder.resolve(), cluster=self.cluster)
        for group in points:
            timeout_s, max_memory = group_limits(len(group.jobs), self.timeout_s, self.max_memory)
            executor.update_parameters(timeout_min=max(1, int(timeout_s // 60) + 1), name="attnbench")
            t0 = time.perf_counter()
            job = executor.submit(run_point, group.to_json(), str(results.path.resolve()), max_memory)
            try:
                job.result()
                failed, message = False, f"job {job.job_id} finished without storing a result"
            except Exception as exc:  # the job failed outside our worker's own handling
                failed, message = True, f"job {job.job_id} failed: {' '.join(str(exc).split())[-500:]}"
            for member, failure in zip(group.jobs, failure_rows(group, "error", message, time.perf_counter() - t0)):
                row = results.read(member.point_id)
                if row is None or (failed and row.get("status") == "ok"):
                    row = failure
                    results.write(row)
                done(member, row)
