"""``--executor slurm``: every point a task of one Slurm job array, submitted through submitit.

Each job measures its point under the worker's own time limit, exactly as the process executor does
(the point is stored as ``timeout`` past ``timeout_s``); the Slurm time limit leaves room for start-up
beyond it, and for submitit's warning signal, so Slurm never cuts a healthy point short. The job
writes its row into the results directory, which must be on a filesystem the nodes share.

The submitting process waits for rows, asking Slurm (squeue, then sacct where accounting runs) about
the jobs that have not stored one. A job that ended without a row is stored as a failure with Slurm's
state, its run time and the tail of its stderr; a point whose job Slurm no longer knows, or cannot be
asked about, is given up after its time limit plus a grace period: the sweep never waits without
bound. The job ids are kept in ``<out>/slurm_jobs.json`` until collected, so that ``--resume`` (after
``--no-wait``, a lost connection or a crash) collects the jobs still queued, running or finished
before it submits anything; Ctrl-C cancels the sweep's own jobs, so nothing runs twice.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.config import Job  # a point and its options
from attnbench.errors import UsageError
from attnbench.results import ResultsDir
from attnbench.sweep.executors import PRELOAD
from attnbench.sweep.worker import failure_row, run_point

JOBS_FILE = "slurm_jobs.json"
STARTUP_S = 180  # Slurm time limit beyond the point's own: interpreter, torch import, submitit, shared filesystem
SIGNAL_DELAY_S = 60  # submitit's warning signal (USR2) this long before the Slurm limit
LIVE = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
}
CLIENTS = ("sbatch", "srun", "squeue", "scancel", "sinfo")


def job_time_limit_min(timeout_s: float) -> int:
    """The Slurm time limit (minutes) for a point limited to ``timeout_s``: room for start-up and the signal."""
    return max(1, math.ceil((timeout_s + STARTUP_S + SIGNAL_DELAY_S) / 60))


def slurm_job(point_json: str, results_dir: str, max_memory: int | None, timeout_s: float) -> str:
    """What a Slurm job runs: measure the point and store its row, under the worker's own time limit.

    The clock starts once the modules the process executor preloads are imported. Past ``timeout_s``
    a watchdog thread stores the point as ``timeout`` (as the process executor would) and ends the
    job. SIGTERM (scancel, preemption) ends the job at once: submitit would only log it and let the
    point run on until Slurm's SIGKILL.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for module in PRELOAD:  # start-up, as in the process executor's pre-warmed server: not the point's time
        importlib.import_module(module)
    point = Job.from_json(point_json)
    print(f"attnbench: measuring point {point.point_id} ({point.label})", flush=True)
    t0 = time.perf_counter()

    def expire() -> None:
        row = failure_row(point, "timeout", f"ran past the {timeout_s:g} s limit", time.perf_counter() - t0)
        ResultsDir(results_dir).write(row)
        print(f"attnbench: point {point.point_id} stored as timeout", flush=True)
        os._exit(0)

    watchdog = threading.Timer(timeout_s, expire)
    watchdog.daemon = True
    watchdog.start()
    status = run_point(point_json, results_dir, max_memory)
    watchdog.cancel()
    print(f"attnbench: point {point.point_id} stored as {status}", flush=True)
    return status


@dataclass(frozen=True)
class JobInfo:
    """What Slurm says about one job: state, run time so far (s), exit code, reason."""

    state: str
    elapsed_s: float | None = None
    exit_code: str = ""
    reason: str = ""


def _run(cmd: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)


def _elapsed(text: str) -> float | None:
    """Seconds from Slurm's [days-][hours:]minutes:seconds."""
    days, _, clock = text.strip().rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        return float(int(days or 0) * 86400 + sum(v * 60**i for i, v in enumerate(reversed(parts))))
    except ValueError:
        return None


def query_jobs(job_ids: Iterable[str]) -> dict[str, JobInfo] | None:
    """Slurm's view of ``job_ids`` (array tasks as ``A_i``): squeue, then sacct for the rest.

    Jobs neither knows are left out; None when Slurm cannot be asked at all (controller down).
    """
    wanted = set(job_ids)
    if not wanted:
        return {}
    arrays = sorted({j.split("_")[0] for j in wanted})
    try:
        proc = _run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(arrays), "-o", "%i|%T|%M|%r"])
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode and "Invalid job id" not in proc.stderr:
        return None
    found: dict[str, JobInfo] = {}
    for line in proc.stdout.splitlines():
        job, state, elapsed, reason = [*line.split("|"), "", "", ""][:4]
        if job in wanted:
            found[job] = JobInfo(state, _elapsed(elapsed), reason=reason if reason != "None" else "")
    rest = wanted - found.keys()
    if rest and shutil.which("sacct"):
        try:
            fields = "JobID,State,ElapsedRaw,ExitCode"
            proc = _run(["sacct", "-n", "-P", "-X", "-j", ",".join(sorted(rest)), "-o", fields])
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        for line in proc.stdout.splitlines() if proc and proc.returncode == 0 else []:
            job, state, elapsed, code = [*line.split("|"), "", "", ""][:4]
            if job in rest and state:
                seconds = float(elapsed) if elapsed.isdigit() else None
                found[job] = JobInfo(state.split()[0], seconds, code, " ".join(state.split()[1:]))
    return found


def check_cluster(partition: str | None) -> None:
    """Users' mistakes before anything is submitted: no Slurm clients, no reachable Slurm, unknown partition."""
    missing = [c for c in CLIENTS if shutil.which(c) is None]
    if missing:
        raise UsageError(
            f"--executor slurm needs Slurm's client commands on PATH; not found: {', '.join(missing)} "
            "(run on a node of the cluster, or use --executor process)"
        )
    conf = os.environ.get("SLURM_CONF")
    if conf and not Path(conf).is_file():
        raise UsageError(f"--executor slurm: SLURM_CONF={conf!r} is not a file; point it at the cluster's slurm.conf")
    try:
        proc = _run(["sinfo", "-h", "-o", "%P"], timeout=60)
    except subprocess.TimeoutExpired:
        raise UsageError("--executor slurm: sinfo did not answer within 60 s; is the Slurm controller up?") from None
    if proc.returncode:
        first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), f"sinfo exited with {proc.returncode}")
        raise UsageError(f"--executor slurm: no reachable Slurm ({first.strip()}); check SLURM_CONF and the controller")
    partitions = [p.rstrip("*") for p in proc.stdout.split()]
    if partition is not None and partition not in partitions:
        raise UsageError(f"unknown --partition {partition!r}; this cluster has: {', '.join(partitions) or '(none)'}")


def stderr_tail(folder: Path, job_id: str, lines: int = 6) -> str:
    """The last lines of a job's stderr, submitit's own log lines left out."""
    from submitit.core.utils import JobPaths

    try:
        text = JobPaths(folder, job_id=job_id, task_id=0).stderr.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("submitit ")]
    return " | ".join(kept[-lines:])


@dataclass
class Pending:
    """A point whose Slurm job has not stored a row yet."""

    point: Job
    job_id: str
    before: list[int] | None = None  # the point file's (inode, mtime_ns) when the job was submitted, if any
    last_live: float = field(default_factory=time.time)  # when Slurm last said the job is queued or running


class JobsFile:
    """``<out>/slurm_jobs.json``: the Slurm job of every point submitted and not yet collected."""

    def __init__(self, out: Path) -> None:
        self.path = out / JOBS_FILE

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            jobs = json.loads(self.path.read_text()).get("jobs", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return jobs if isinstance(jobs, dict) else {}

    def update(self, add: dict[str, dict[str, Any]] | None = None, drop: Iterable[str] = ()) -> None:
        jobs = self.read()
        jobs.update(add or {})
        for point_id in drop:
            jobs.pop(point_id, None)
        if not jobs:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": "attnbench-slurm-jobs", "version": 1, "jobs": jobs}, indent=1))
        os.replace(tmp, self.path)


def _signature(results: ResultsDir, point_id: str) -> list[int] | None:
    """The point file's (inode, mtime_ns): every atomic write replaces the file, so a new row changes it."""
    try:
        stat = results.point_path(point_id).stat()
    except OSError:
        return None
    return [stat.st_ino, stat.st_mtime_ns]


def _stored_since(results: ResultsDir, point_id: str, before: list[int] | None) -> dict[str, Any] | None:
    """The row stored after the point file looked like ``before`` (not an older row: --retry-failed).

    Compared by identity, not by time: the nodes' and the file server's clocks need not agree with ours.
    """
    now = _signature(results, point_id)
    return results.read(point_id) if now is not None and now != before else None


@dataclass
class SlurmExecutor:
    """All points as one Slurm job array; waits for their rows (or only submits, ``wait=False``)."""

    folder: Path
    timeout_s: float
    max_memory: int | None = None
    slurm: dict[str, Any] = field(default_factory=dict)  # partition, gpus_per_node, cpus_per_task, mem_gb, ...
    wait: bool = True
    grace_s: float = 120.0  # a job Slurm no longer knows is given up this long past its point's time limit
    poll_s: float = 2.0  # first interval between looks at the results and the queue (grows to 10 s)
    submitted: int = field(default=0, init=False)  # points submitted without waiting (wait=False)
    adopted: int = field(default=0, init=False)  # points whose earlier job was collected, not resubmitted

    def check(self) -> None:
        """Refuse before anything runs where Slurm cannot take the sweep (one line, exit 2)."""
        check_cluster(self.slurm.get("partition"))

    def _executor(self) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder.resolve(), cluster="slurm")
        params: dict[str, Any] = {
            "timeout_min": job_time_limit_min(self.timeout_s),
            "name": "attnbench",
            "slurm_signal_delay_s": SIGNAL_DELAY_S,
        }
        for key, value in self.slurm.items():
            params[f"slurm_{key}" if key in ("partition", "array_parallelism") else key] = value
        executor.update_parameters(**params)
        return executor

    def run(self, points: Iterable[Job], results: ResultsDir, done: Any) -> None:
        """Collect the points' earlier jobs, submit the rest as one array, wait for every row."""
        points = list(points)
        jobs_file = JobsFile(results.path)
        pending = self._adopt(points, results, jobs_file)
        fresh = [p for p in points if p.point_id not in pending]
        if fresh:
            pending.update(self._submit(fresh, results, jobs_file))
        if not self.wait:
            self.submitted = len(pending)
            for item in pending.values():
                done(item.point, None)
            return
        try:
            self._collect(pending, results, jobs_file, done)
        except KeyboardInterrupt:
            self._cancel(pending, jobs_file)
            raise

    def _adopt(self, points: list[Job], results: ResultsDir, jobs_file: JobsFile) -> dict[str, Pending]:
        """The points whose job, recorded by an earlier run, is still queued, running or finished."""
        recorded = jobs_file.read()
        mine = {p.point_id: p for p in points if p.point_id in recorded}
        collected = [  # stored by their jobs after the run that submitted them had returned (--no-wait)
            pid
            for pid, entry in recorded.items()
            if pid not in mine and _stored_since(results, pid, entry.get("before")) is not None
        ]
        jobs_file.update(drop=collected)
        adopted, stale = {}, []
        info = (query_jobs(str(recorded[pid].get("job_id")) for pid in mine) or {}) if mine else {}
        for pid, point in mine.items():
            job_id, before = str(recorded[pid].get("job_id")), recorded[pid].get("before")
            if job_id in info or _stored_since(results, pid, before) is not None:
                adopted[pid] = Pending(point, job_id, before)
            else:
                stale.append(pid)  # Slurm has forgotten the job and it stored nothing: submit again
        if stale:
            jobs_file.update(drop=stale)
        self.adopted = len(adopted)
        if adopted or collected:  # collected: finished since a --no-wait run returned, nothing left to wait for
            already = f" ({len(collected)} of them already stored)" if collected else ""
            print(
                f"attnbench: collecting {len(adopted) + len(collected)} point(s) from Slurm jobs submitted "
                f"earlier{already}",
                file=sys.stderr,
            )
        return adopted

    def _submit(self, points: list[Job], results: ResultsDir, jobs_file: JobsFile) -> dict[str, Pending]:
        from submitit.core.utils import FailedJobError

        executor = self._executor()
        out = results.path.resolve()
        before = {p.point_id: _signature(results, p.point_id) for p in points}
        submitted = time.time()
        args = [(p.to_json(), str(out), self.max_memory, self.timeout_s) for p in points]
        try:
            with executor.batch():
                jobs = [executor.submit(slurm_job, *a) for a in args]
        except FailedJobError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "no reason given")
            raise UsageError(f"Slurm refused the job array: {reason}") from None
        pending = {p.point_id: Pending(p, str(j.job_id), before[p.point_id]) for p, j in zip(points, jobs)}
        jobs_file.update(
            add={
                pid: {"job_id": item.job_id, "submitted": submitted, "label": item.point.label, "before": item.before}
                for pid, item in pending.items()
            }
        )
        first = jobs[0].job_id.split("_")[0]
        print(f"attnbench: submitted {len(jobs)} point(s) as Slurm job {first}", file=sys.stderr)
        return pending

    def _collect(self, pending: dict[str, Pending], results: ResultsDir, jobs_file: JobsFile, done: Any) -> None:
        started = time.time()
        while pending:
            info = query_jobs(item.job_id for item in pending.values())
            now = time.time()
            finished = []
            for pid, item in pending.items():
                row = _stored_since(results, pid, item.before)
                job = None if info is None else info.get(item.job_id)
                if row is None and job is not None and job.state in LIVE:
                    item.last_live = now
                    continue
                if row is None and job is None:
                    if now - item.last_live < self.timeout_s + self.grace_s:
                        continue
                    row = self._lost(item, info is None, results)
                elif row is None:
                    row = self._failed(item, job, results)
                finished.append(pid)
                done(item.point, row)
            if finished:
                jobs_file.update(drop=finished)
                for pid in finished:
                    del pending[pid]
            if pending:
                time.sleep(min(10.0, self.poll_s + (time.time() - started) / 30))

    def _failed(self, item: Pending, job: JobInfo, results: ResultsDir) -> dict[str, Any]:
        """The row of a point whose job ended without storing one: Slurm's state, run time, stderr."""
        row = _stored_since(results, item.point.point_id, item.before)  # stored just before the job ended
        if row is not None:
            return row
        status = {"TIMEOUT": "timeout", "DEADLINE": "timeout", "OUT_OF_MEMORY": "oom"}.get(job.state, "error")
        details = [f"exit code {job.exit_code}" if job.exit_code else "", job.reason]
        message = f"Slurm job {item.job_id} {job.state}" + "".join(f" ({d})" for d in details if d)
        if status == "timeout":
            limit = job_time_limit_min(self.timeout_s)
            message += f": reached the Slurm time limit ({limit} min) before the point's own"
        message += "; no result stored"
        if job.state == "COMPLETED":
            message += " (is --out on a filesystem the nodes share?)"
        tail = stderr_tail(self.folder, item.job_id)
        if tail:
            message += f"; stderr: {tail}"
        row = failure_row(item.point, status, message, job.elapsed_s if job.elapsed_s is not None else float("nan"))
        results.write(row)
        return row

    def _lost(self, item: Pending, unreachable: bool, results: ResultsDir) -> dict[str, Any]:
        why = "Slurm could not be asked about it" if unreachable else "Slurm no longer knows it (no accounting?)"
        message = (
            f"Slurm job {item.job_id}: no result {self.timeout_s + self.grace_s:g} s after it was last seen queued "
            f"or running, and {why}"
        )
        tail = stderr_tail(self.folder, item.job_id)
        if tail:
            message += f"; stderr: {tail}"
        row = failure_row(item.point, "error", message, float("nan"))
        results.write(row)
        return row

    def _cancel(self, pending: dict[str, Pending], jobs_file: JobsFile) -> None:
        """Ctrl-C: cancel the sweep's own jobs still queued or running, so that --resume measures each once."""
        ids = sorted({item.job_id for item in pending.values()})
        if not ids:
            return
        kept = f"attnbench: Slurm job(s) {' '.join(ids)} may still run; --resume collects them"
        try:
            _run(["scancel", *ids], timeout=60)
            deadline = time.time() + 30
            while time.time() < deadline:
                info = query_jobs(ids)
                if info is not None and not any(j.state in LIVE for j in info.values()):
                    break
                time.sleep(1)
            else:
                print(kept, file=sys.stderr)
                return
        except (OSError, subprocess.TimeoutExpired, KeyboardInterrupt):
            print(kept, file=sys.stderr)
            return
        jobs_file.update(drop=list(pending))
        print(f"attnbench: cancelled {len(ids)} Slurm job(s) of this sweep still queued or running", file=sys.stderr)
