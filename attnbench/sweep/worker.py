"""What runs inside a worker process: measure one point and store its row, whatever happens.

The worker turns every outcome into a stored row: ``ok`` with the figures, ``oom`` when the device
or the host memory limit runs out, ``error`` with the message otherwise. Outcomes the worker cannot
record itself (it was killed, or ran past its time limit) are recorded by the parent from outside
(:func:`failure_row`).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import time
import traceback
from typing import Any

from attnbench.config import Job, config_columns
from attnbench.results import ResultsDir
from attnbench.sweep.supervise import guard_worker

# exit code of a worker that measured its point but could not store the row (disk full, folder read-only)
STORE_FAILED = 75  # EX_TEMPFAIL of sysexits.h

OWN_LIMIT_GRACE_S = 5.0  # a worker stops itself this long after its time limit, if nobody stopped it

OOM_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "bad_alloc",  # C++ new failing (std::bad_alloc), e.g. under --max-memory's limit
    "defaultcpuallocator",
    "enforce fail at alloc_cpu",
    "failed to allocate",
)
# what an allocation failing inside a oneDNN (CPU) primitive says, and nothing more: out of memory where a
# host memory limit is set (--max-memory), an ordinary error otherwise
LIMITED_OOM_MARKERS = ("could not create a primitive",)


def host_limit() -> int | None:
    """The host memory limit on this process (:func:`limit_memory`'s data-segment cap), or None."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def config_row(job: Job) -> dict[str, Any]:
    """The configuration columns of ``job``."""
    return config_columns(job.point, job.options)


def is_oom(exc: BaseException, limited: bool | None = None) -> bool:
    """Whether ``exc`` means memory ran out (CUDA, the host, or the limit set with --max-memory).

    Looks through the chain of causes too: an allocation failure often surfaces wrapped in another error
    (the FLOP counter's, the compiler's), under its own type or as a bare ``std::bad_alloc``. Under a host
    memory limit (``limited``; default: whether this process has one, :func:`host_limit`) oneDNN's bare
    "could not create a primitive" counts too.
    """
    limited = host_limit() is not None if limited is None else limited
    markers = (*OOM_MARKERS, *LIMITED_OOM_MARKERS) if limited else OOM_MARKERS
    oom_type = getattr(getattr(__import__("torch"), "cuda", None), "OutOfMemoryError", None)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError) or (oom_type is not None and isinstance(current, oom_type)):
            return True
        if isinstance(current, Exception) and any(m in str(current).lower() for m in markers):
            return True
        current = current.__cause__ or current.__context__
    return False


def _environment(device: str) -> dict[str, Any]:
    try:
        from attnbench.measure.environment import environment

        columns, missing = environment(device)
        return {**columns, "missing": json.dumps(missing, sort_keys=True)}
    except Exception as exc:  # the row must still be written
        return {"missing": json.dumps({"environment": f"could not be read: {exc}"})}


def _inject_fault(job: Job) -> None:
    """Test hook: ATTNBENCH_FAULT="kind" or "kind@label" makes the worker fail on purpose.

    kill: SIGKILL itself; hang: sleep past any time limit; oom: raise torch's out-of-memory error;
    raise: raise an ordinary error. Lets the tests prove that no outcome of one point costs the others.
    """
    fault = os.environ.get("ATTNBENCH_FAULT")
    if not fault:
        return
    kind, _, label = fault.partition("@")
    if label and label != job.label:
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        time.sleep(10**6)
    elif kind == "oom":
        import torch

        raise torch.OutOfMemoryError("simulated: CUDA out of memory. Tried to allocate 20.00 GiB")
    elif kind == "raise":
        raise RuntimeError("simulated failure")


def measure_point(job: Job) -> dict[str, Any]:
    """Run the measurement of one job in this process and return its complete row."""
    from attnbench.measure import measure

    row = config_row(job)
    started = time.perf_counter()
    skip = job.skip_reason
    if skip is not None:
        row.update(status="skipped", error=skip)
        row.update(_environment(job.point.device))
        row["wall_time_s"] = time.perf_counter() - started
        return row
    try:
        _inject_fault(job)
        row.update(measure(job.point, job.options))  # the same point_id and label as config_row's
        row["status"] = row.get("status") or "ok"  # measure's own: error for a compile that failed
    except Exception as exc:
        status = "oom" if is_oom(exc) else "error"
        row.update(_environment(job.point.device))
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        limit = host_limit()
        if status == "oom" and limit is not None:  # the limit the user set is why; name it
            error += f" (under the host memory limit of {limit:,} bytes, --max-memory)"
        row.update(status=status, error=error)
        if status == "error":
            row["traceback"] = traceback.format_exc(limit=8)
    row["wall_time_s"] = time.perf_counter() - started
    return row


def limit_memory(max_bytes: int | None) -> None:
    """Cap this process's data segment (heap and anonymous mappings) so allocations past it fail."""
    if max_bytes:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def run_point(point_json: str, results_dir: str, max_memory: int | None = None, timeout_s: float | None = None) -> str:
    """Worker entry point: measure the job, store its row; returns the row's status.

    Ctrl-C is left to the parent, SIGTERM unwinds (no temporary file left), and past ``timeout_s`` (a
    little later than the parent would) the worker stores a timeout row itself and exits.
    """
    job = Job.from_json(point_json)
    started = time.perf_counter()

    def timed_out() -> None:
        message = f"ran past the {timeout_s:g} s limit"
        ResultsDir(results_dir).write(failure_row(job, "timeout", message, time.perf_counter() - started))

    if timeout_s is not None:  # the process executor's worker (submitit's jobs keep submitit's signal handling)
        guard_worker(timeout_s + OWN_LIMIT_GRACE_S, timed_out)
    limit_memory(max_memory)
    if job.options.threads is not None:
        import torch

        torch.set_num_threads(job.options.threads)
    row = measure_point(job)
    try:
        ResultsDir(results_dir).write(row)
    except OSError:  # a full disk or a read-only folder: the parent says so, in one line, not a traceback here
        raise SystemExit(STORE_FAILED) from None
    return str(row["status"])


def failure_row(job: Job, status: str, message: str, wall_time_s: float) -> dict[str, Any]:
    """The row the parent stores for a worker that could not store one itself (killed, timed out)."""
    row = config_row(job)
    row.update(_environment(job.point.device))
    row.update(status=status, error=message, wall_time_s=wall_time_s)
    return row
