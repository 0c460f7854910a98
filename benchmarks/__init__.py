"""attnbench's asv benchmarks; importing the package pins the CPU threads every benchmark uses.

ATTNBENCH_ASV_THREADS (default 1) sets OMP_NUM_THREADS and MKL_NUM_THREADS before torch is imported,
and torch's intra-op threads when it is: on a shared CI runner, a benchmark that takes every core
competes with everything else there (an lstm step of 1.4 ms measured 1.12 s on a busy 2-core runner).
The value is a parameter (``threads``) of every benchmark, so asv's results record it. Raise it to
measure multi-threaded CPU figures: ``ATTNBENCH_ASV_THREADS=4 asv run ...``.
"""

from __future__ import annotations

import os


def _threads() -> int:
    text = os.environ.get("ATTNBENCH_ASV_THREADS", "1")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"ATTNBENCH_ASV_THREADS={text!r} is not allowed; expected an integer >= 1")
    return value


THREADS = _threads()
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
# torch.cuda.is_available() through NVML: it leaves CUDA uninitialised, so a forked benchmark can still use it
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")


def pin_threads() -> None:
    """torch's intra-op threads to THREADS (in every benchmark process: spawned or forked)."""
    import torch

    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)
