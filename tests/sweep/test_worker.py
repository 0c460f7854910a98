"""The worker's classification of failures: every way memory runs out is stored as oom."""

from __future__ import annotations

import pytest

from attnbench.sweep.worker import is_oom


def _wrapped(inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise ValueError("Failed running call_function aten.mm") from exc
    except ValueError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("std::bad_alloc"),
        MemoryError("std::bad_alloc"),
        TypeError("std::bad_alloc"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:127] . DefaultCPUAllocator: not enough memory: you tried"),
        _wrapped(RuntimeError("std::bad_alloc")),
        _wrapped(MemoryError()),
    ],
    ids=str,
)
def test_allocation_failures_are_oom(exc):
    assert is_oom(exc)


@pytest.mark.parametrize("exc", [RuntimeError("simulated failure"), ValueError("shape mismatch"), KeyError("x")])
def test_other_failures_are_not(exc):
    assert not is_oom(exc)


def test_a_row_measure_stores_as_error_stays_an_error(monkeypatch):
    """A compile that fails comes back from measure as an error row (attnbench.measure.compiled); the
    worker keeps it so, with its reason, instead of calling the point ok."""
    import attnbench.measure.point
    from attnbench.config import Job, Options, Point
    from attnbench.sweep.worker import measure_point

    reason = "torch.compile(mode='default') failed: BackendCompilerFailed: no C++ compiler"
    monkeypatch.setattr(attnbench.measure.point, "measure_group", lambda jobs: [{"status": "error", "error": reason}])
    row = measure_point(Job(Point.make("lstm", "copy", seq_len=4), Options(compile="default")))
    assert row["status"] == "error" and row["error"] == reason


def test_onednn_failing_under_a_host_memory_limit_is_oom_and_names_the_limit(monkeypatch):
    """--max-memory 100MB: oneDNN says only "could not create a primitive" when its allocation fails."""
    import attnbench.measure.point
    from attnbench.config import Job, Options, Point
    from attnbench.sweep import worker

    primitive = RuntimeError("could not create a primitive")
    assert is_oom(primitive, limited=True) and is_oom(_wrapped(primitive), limited=True)
    assert not is_oom(primitive, limited=False)  # without a limit it is oneDNN's own failure: an error

    def fail(jobs):
        raise primitive

    monkeypatch.setattr(attnbench.measure.point, "measure_group", fail)
    monkeypatch.setattr(worker, "host_limit", lambda: 100_000_000)
    row = worker.measure_point(Job(Point.make("lstm", "copy", seq_len=4), Options()))
    assert row["status"] == "oom"
    assert row["error"] == (
        "RuntimeError: could not create a primitive (under the host memory limit of 100,000,000 bytes, --max-memory)"
    )
    monkeypatch.setattr(worker, "host_limit", lambda: None)
    assert worker.measure_point(Job(Point.make("lstm", "copy", seq_len=4), Options()))["status"] == "error"
