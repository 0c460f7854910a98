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

from attnbench.config import Group, Job, config_columns
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
    return measure_rows(Group((job,)))[0]


def measure_rows(group: Group) -> list[dict[str, Any]]:
    """Run the measurement of a replicate group in this process; one complete row per member, in order.

    A failure of the group (an error, an out-of-memory) is every member's row: they were measured as one.
    """
    from attnbench.measure.point import measure_group

    started = time.perf_counter()
    skip = group.skip_reason
    if skip is not None:
        rows = []
        for job in group.jobs:
            row = config_row(job)
            row.update(status="skipped", error=skip, group_size=len(group.jobs))
            row.update(_environment(job.point.device))
            rows.append(row)
    else:
        try:
            for job in group.jobs:
                _inject_fault(job)
            rows = measure_group(group.jobs)  # the same point_id and label as config_row's
            for row in rows:
                row["status"] = row.get("status") or "ok"  # measure's own: error for a compile that failed
        except Exception as exc:
            status = "oom" if is_oom(exc) else "error"
            text = str(exc).strip()
            message = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
            limit = host_limit()
            if status == "oom" and limit is not None:  # the limit the user set is why; name it
                message += f" (under the host memory limit of {limit:,} bytes, --max-memory)"
            trace = traceback.format_exc(limit=8) if status == "error" else None
            env = _environment(group.point.device)
            rows = []
            for job in group.jobs:
                row = {**config_row(job), **env, "status": status, "error": message, "group_size": len(group.jobs)}
                if trace:
                    row["traceback"] = trace
                rows.append(row)
    for row in rows:
        row["wall_time_s"] = time.perf_counter() - started
    return rows


def limit_memory(max_bytes: int | None) -> None:
    """Cap this process's data segment (heap and anonymous mappings) so allocations past it fail."""
    if max_bytes:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def run_point(point_json: str, results_dir: str, max_memory: int | None = None, timeout_s: float | None = None) -> str:
    """Worker entry point: measure the group (or single job) ``point_json``, store each member's row; returns
    the first row's status.

    Ctrl-C is left to the parent, SIGTERM unwinds (no temporary file left), and past ``timeout_s`` (a
    little later than the parent would) the worker stores a timeout row for every member not yet stored
    itself and exits. ``max_memory`` and ``timeout_s`` are the group's own (the executors scale a point's
    limits by the group's size: :func:`group_limits`).
    """
    group = Group.from_json(point_json)
    started = time.perf_counter()

    def timed_out() -> None:
        message = f"ran past the {timeout_s:g} s limit"
        results = ResultsDir(results_dir)
        for row in failure_rows(group, "timeout", message, time.perf_counter() - started):
            results.write(row)

    if timeout_s is not None:  # the process executor's worker (submitit's jobs keep submitit's signal handling)
        guard_worker(timeout_s + OWN_LIMIT_GRACE_S, timed_out)
    limit_memory(max_memory)
    options = group.jobs[0].options
    if options.threads is not None:
        import torch

        torch.set_num_threads(options.threads)
    rows = measure_rows(group)
    try:
        results = ResultsDir(results_dir)
        for row in rows:
            results.write(row)
    except OSError:  # a full disk or a read-only folder: the parent says so, in one line, not a traceback here
        raise SystemExit(STORE_FAILED) from None
    return str(rows[0]["status"])


def group_limits(size: int, timeout_s: float, max_memory: int | None) -> tuple[float, int | None]:
    """The time limit and host memory limit of a group of ``size`` replicates, from a point's: each times
    the size (replicates trained one after another take that long; trained together, at most that much)."""
    return timeout_s * size, None if max_memory is None else max_memory * size


def failure_rows(group: Group, status: str, message: str, wall_time_s: float) -> list[dict[str, Any]]:
    """:func:`failure_row` of every member of ``group``."""
    return [{**failure_row(job, status, message, wall_time_s), "group_size": len(group.jobs)} for job in group.jobs]


def failure_row(job: Job, status: str, message: str, wall_time_s: float) -> dict[str, Any]:
    """The row the parent stores for a worker that could not store one itself (killed, timed out)."""
    row = config_row(job)
    row.update(_environment(job.point.device))
    row.update(status=status, error=message, wall_time_s=wall_time_s)
    return row
