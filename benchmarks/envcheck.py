"""Check that an asv environment holds exactly the torch its matrix entry names; exit 1 if not.

asv names each environment after its matrix entry (``virtualenv-py3.11-torch2.13.0``) and exports
that name as ASV_ENV_NAME to the commands it runs, so the check needs neither asv nor the
configuration file. asv.conf.json runs it as the last install command: a commit whose installation
replaced the matrix's torch (a dependency re-resolved to a newer release, a CUDA build pulled onto a
CPU runner) fails to install, and asv reports every benchmark of it as failed rather than recording
figures under a torch the environment does not hold.

    python benchmarks/envcheck.py          # inside an asv environment (asv runs it)

Outside an asv-built environment (no ASV_ENV_NAME, or asv's ``existing`` environment, whose name
carries no matrix) there is nothing to compare with, and the check passes saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

_TORCH = re.compile(r"^torch(?P<spec>[^a-zA-Z].*)?$")


def matrix_torch(env_name: str) -> str | None:
    """The torch requirement in an asv environment name ("" for an unpinned torch); None if it has none.

    ``virtualenv-py3.11-torch2.13.0`` gives ``"2.13.0"``; ``virtualenv-py3.11-torch`` gives ``""``.
    """
    for part in env_name.split("-")[2:]:  # after the tool and the python version
        match = _TORCH.match(part)
        if match:
            return (match.group("spec") or "").lstrip("=")
    return None


def has_nvidia_gpu() -> bool:
    """Whether this machine has an NVIDIA driver (without initialising CUDA)."""
    return shutil.which("nvidia-smi") is not None or os.path.exists("/proc/driver/nvidia/version")


def problem(wanted: str | None, installed: str, cuda: str | None, gpu: bool) -> str | None:
    """Why ``installed`` (torch.__version__, with torch.version.cuda ``cuda``) is not the matrix's ``wanted``.

    ``wanted`` is an exact version, with or without a local part (``2.13.0``, ``2.13.0+cpu``); without
    one, any build of that release is the matrix's, except a CUDA build on a machine with no NVIDIA
    driver (``gpu`` False): that is the multi-GB download a CPU runner must not get. None: no problem.
    """
    if not wanted:
        return None
    public = installed.partition("+")[0]
    if "+" in wanted:
        if installed != wanted:
            return f"the environment holds torch {installed}, but the asv matrix names torch {wanted}"
        return None
    if public != wanted:
        return f"the environment holds torch {installed}, but the asv matrix names torch {wanted}"
    if cuda is not None and not gpu:
        return (
            f"the environment holds torch {installed}, a CUDA {cuda} build, on a machine without an NVIDIA GPU; "
            f"let pip find the CPU build of torch {wanted} first (for example "
            "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)"
        )
    return None


def main() -> int:
    """Compare the environment's torch with ASV_ENV_NAME's; print one line, return the exit code."""
    env_name = os.environ.get("ASV_ENV_NAME", "")
    wanted = matrix_torch(env_name) if env_name and not env_name.startswith("existing") else None
    if wanted is None:
        print(f"envcheck: no torch in the asv matrix of this environment ({env_name or 'not an asv one'}); not checked")
        return 0
    import torch

    why = problem(wanted, torch.__version__, torch.version.cuda, has_nvidia_gpu())
    if why:
        print(f"envcheck: {env_name}: {why}", file=sys.stderr)
        return 1
    print(f"envcheck: {env_name}: torch {torch.__version__} is the matrix's ({wanted or 'unpinned'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
