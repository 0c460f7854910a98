"""Keeping a sweep's processes tidy: workers die with the sweep, nothing is left behind, one point per sweep.

- :class:`Reaper`: a tiny watchdog process (standard library only) holding a pipe from the sweep's
  main process. When the main process ends, however it ends (``kill -9`` included), the pipe closes and
  the reaper kills the worker still in flight and removes multiprocessing's ``/tmp/pymp-*`` folder.
  A ``--resume`` started at once then never races an orphan measuring the same point.
- :func:`start_forkserver`: starts the forkserver with Python's safe-path mode, so a folder named
  ``attnbench`` in the current directory (a clone) cannot shadow the installed package in the workers.
- :func:`guard_worker`: inside a worker, Ctrl-C is left to the parent (no "Process ForkServerProcess-N"
  traceback), SIGTERM unwinds cleanly (temporary files removed, semaphores released), and the worker
  enforces its own time limit.
- :class:`PointClaim`: a lock file per point (``points/.claim-<point_id>``), so two sweeps writing into
  one directory never measure the same point at the same time; a claim whose holder is gone is stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Runs in a fresh interpreter with -I (no site, no current directory on the path): reads lines from the
# sweep until the pipe closes, then kills the workers still listed and removes the listed folders.
_REAPER = r"""
import fcntl, os, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
workers, folders, claims = set(), [], set()
for line in sys.stdin:
    verb, _, arg = line.rstrip("\n").partition(" ")
    if verb == "worker":
        workers.add(int(arg))
    elif verb == "done":
        workers.discard(int(arg))
    elif verb == "folder":
        folders.append(arg)
    elif verb == "claim":
        claims.add(arg)
    elif verb == "unclaim":
        claims.discard(arg)
for pid in workers:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.2 if workers else 0)
for folder in folders:
    shutil.rmtree(folder, ignore_errors=True)
for path in claims:  # removed only if nobody holds it (another sweep may have taken it over)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        continue
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            os.unlink(path)
    except OSError:
        pass
    os.close(fd)
"""


class Reaper:
    """The watchdog process of one sweep: told which worker runs and which folders to remove at the end."""

    def __init__(self) -> None:
        read, self._write = os.pipe()  # both close-on-exec; the reaper gets the read end as its stdin
        try:
            # posix_spawn, not Popen: nobody waits for the reaper (it ends after this process), so there is
            # no Popen object to warn that its child still runs
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-c", _REAPER],
                os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, read, 0)],
                setsid=True,  # a Ctrl-C or a scheduler's signal to the group leaves it to do its job
            )
        finally:
            os.close(read)

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, (line + "\n").encode())

    def alive(self) -> bool:
        """Whether the reaper still runs."""
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def worker(self, pid: int) -> None:
        """``pid`` measures a point now: kill it if the sweep dies."""
        self._say(f"worker {pid}")

    def done(self, pid: int) -> None:
        """``pid`` has ended."""
        self._say(f"done {pid}")

    def folder(self, path: str) -> None:
        """Remove ``path`` when the sweep ends."""
        self._say(f"folder {path}")

    def claim(self, path: Path, held: bool) -> None:
        """Remove the claim file ``path`` when the sweep ends, unless released (``held=False``) before."""
        self._say(f"{'claim' if held else 'unclaim'} {path}")

    @classmethod
    def of_this_process(cls) -> Reaper:
        """The reaper of this process, started on first use; it outlives every sweep run in the process
        and acts when the process ends (its pipe closes with the process)."""
        global _reaper
        if _reaper is None or _reaper[0] != os.getpid() or not _reaper[1].alive():
            _reaper = (os.getpid(), cls())
        return _reaper[1]


_reaper: tuple[int, Reaper] | None = None


def start_forkserver(ctx: Any) -> str | None:
    """Start ``ctx``'s forkserver (if it is one) in safe-path mode; the folder of its socket, if any."""
    if ctx.get_start_method() != "forkserver":
        return None
    import multiprocessing.forkserver
    import multiprocessing.util

    old = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"  # Python >= 3.11: no current directory first on the server's path
    # The server starts with Ctrl-C ignored (inherited across exec), so Python leaves it ignored there and
    # every worker forked from it is born ignoring it: a Ctrl-C landing before a worker's own guard is
    # installed cannot print a "Process ForkServerProcess-N" traceback. Ctrl-C is the sweep's to handle.
    main_thread = threading.current_thread() is threading.main_thread()
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, old_int)
        if old is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = old
    address = getattr(multiprocessing.forkserver._forkserver, "_forkserver_address", None)
    if isinstance(address, str) and not address.startswith("\0"):
        return str(Path(address).parent)
    return None


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (``timeout``, schedulers) raises KeyboardInterrupt like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def guard_worker(timeout_s: float | None, on_timeout: Callable[[], None] | None = None) -> None:
    """Set up a worker process: parent handles Ctrl-C, SIGTERM unwinds, own time limit enforced.

    Past ``timeout_s`` the worker calls ``on_timeout`` (which stores the timeout row) and exits, so a hung
    point ends even where no parent is left to stop it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if timeout_s is None or not timeout_s > 0 or timeout_s == float("inf"):
        return

    def watch() -> None:
        time.sleep(timeout_s)
        if on_timeout is not None:
            with contextlib.suppress(Exception):
                on_timeout()
        os._exit(124)

    threading.Thread(target=watch, name="attnbench-time-limit", daemon=True).start()


class PointClaim:
    """A lock file claiming one point of a results directory while this process measures it.

    The lock is an ``flock`` on ``points/.claim-<point_id>``: the kernel drops it when its holder dies,
    however it dies, so a claim can never go stale. The file names the holder for messages and is
    removed on release.
    """

    PREFIX = ".claim-"

    def __init__(self, points: Path, point_id: str) -> None:
        self.path = points / f"{self.PREFIX}{point_id}"
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds the claim, for messages (``pid N on HOST``), or ``another sweep``."""
        try:
            info = json.loads(self.path.read_text())
            return f"pid {int(info['pid'])} on {info['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another sweep"

    def _holder_is_dead(self) -> bool:
        """The file names a process of this host that no longer exists (its reaper is cleaning up)."""
        try:
            info = json.loads(self.path.read_text())
            pid, host = int(info["pid"]), info["host"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if host != socket.gethostname():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def acquire(self) -> bool:
        """Claim the point; False if another live process holds it."""
        import fcntl

        patience = 40  # polls of 50 ms while a dead holder's reaper removes its claim
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if patience and self._holder_is_dead():  # the lock is the reaper's, for an instant: again
                    patience -= 1
                    time.sleep(0.05)
                    continue
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its holder released (and removed) it between our open and our lock: again
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            self._fd = fd
            Reaper.of_this_process().claim(self.path, held=True)  # removed even if this process is killed
            return True

    def release(self) -> None:
        """Give the point up (removes the file while still holding the lock)."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None
            Reaper.of_this_process().claim(self.path, held=False)
