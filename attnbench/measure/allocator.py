"""Keep glibc's allocator from handing memory back to the kernel between timed steps.

torch's CPU allocator does not cache. With glibc's defaults, large temporaries are mmap-ed and
unmapped, or the heap is trimmed, so every step of a recurrent loop pays fresh page faults: a cost of
the allocator, not of the variant, and one that varies run to run. For a measurement the harness sets
glibc's thresholds so that freed memory is reused (peak RSS is unchanged: it is a peak). On other C
libraries, or with ATTNBENCH_MALLOPT=0, nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the setting once per process; returns whether it is in effect."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("ATTNBENCH_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mmap only above 1 GiB (larger blocks still come straight from the kernel); never trim the heap
    _done = bool(mallopt(M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _done
