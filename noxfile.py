"""Sessions that set themselves up: `pip install nox`, then `nox -s quick` or `nox -s tests`.

Each session builds its own virtual environment and installs attnbench into it. On a machine without
an NVIDIA GPU, torch 2.13.0 is installed first (a CPU build where the package index offers one), so
that the package's own torch range is already satisfied and no multi-GB CUDA build is pulled in. Set
ATTNBENCH_TORCH to install a different torch requirement first (e.g. "torch==2.13.0+cu130"), or to
"skip" to let attnbench's own torch range decide.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

CPU_TORCH = "torch==2.13.0"
FOX = "examples/attnbench-fox"


def _has_nvidia_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None or os.path.exists("/proc/driver/nvidia/version")


def install(session: nox.Session, *extras: str, fox: bool = False) -> None:
    """torch first (CPU build on CPU machines), then attnbench with ``extras``, then the example plugin."""
    torch_req = os.environ.get("ATTNBENCH_TORCH") or ("" if _has_nvidia_gpu() else CPU_TORCH)
    if torch_req and torch_req != "skip":
        session.install(torch_req)
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    if fox:
        session.install("-e", FOX)


@nox.session
def tests(session: nox.Session) -> None:
    """The default test suite (slow tests excluded), the example plugin installed so it is checked too.

    pytest's exit code 5 (no tests collected) fails the session like any other non-zero code.
    """
    install(session, "test", fox=True)
    session.run("pytest", "-q", *session.posargs)
    session.run("pytest", "-q", f"{FOX}/tests")


@nox.session
def tests_slow(session: nox.Session) -> None:
    """The slow tests only (longer training runs and sweeps)."""
    install(session, "test", fox=True)
    session.run("pytest", "-q", "-m", "slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting; the README's account of the quick report is the committed report's."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "scripts/readme_quick.py", "--check")


@nox.session
def quick(session: nox.Session) -> None:
    """The main job: the `quick` sweep preset on this machine, then its report (open reports/quick/index.html)."""
    install(session)
    out = session.posargs[0] if session.posargs else "results/quick"
    session.run("attnbench", "sweep", "--preset", "quick", "--out", out, "--resume")
    session.run("attnbench", "report", out, "-o", "reports/quick")


@nox.session
def reproduce(session: nox.Session) -> None:
    """The papers' central copy-task result at laptop scale, five seeds a run (under 20 minutes on 2 CPU cores).

    Without arguments the points go to results/reproduce (resumed where a run stopped) and the table also to
    reproduce.json; arguments replace that.
    """
    install(session)
    default = ["--out", "results/reproduce", "--resume", "--json", "reproduce.json"]
    session.run("attnbench", "reproduce", *(session.posargs or default))


@nox.session
def plugin(session: nox.Session) -> None:
    """The plugin path end to end: install the example FoX plugin, a small sweep over it, and a report."""
    install(session, fox=True)
    listing = session.run("attnbench", "list", silent=True)
    if "fox  (from plugin package attnbench-fox)" not in listing or "! plugin failed" in listing:
        session.error(f"the fox plugin is not registered cleanly:\n{listing}")
    out = session.create_tmp()
    session.run("attnbench", "sweep", "--preset", "plugin-smoke", "--out", f"{out}/results", "--no-progress")
    session.run("attnbench", "report", f"{out}/results", "-o", f"{out}/report")


@nox.session
def bench(session: nox.Session) -> None:
    """asv check, then every benchmark once here, in this environment (`asv run --quick -E existing`).

    The benchmarks run with ATTNBENCH_ASV_THREADS threads (default 1; set it in the environment to change).
    """
    install(session)
    session.run("asv", "machine", "--yes")
    existing = f"existing:{session.virtualenv.bin}/python"
    session.run("asv", "check", "-E", existing)
    session.run(
        "asv",
        "run",
        "--quick",
        "--show-stderr",
        "-E",
        existing,
        "--set-commit-hash",
        _head(session),
        *session.posargs,
    )


@nox.session
def slurm(session: nox.Session) -> None:
    """--executor slurm against a real single-node Slurm stood up here (scripts/slurm/start.sh), then stopped.

    Needs root and Debian's apt (the script installs munge, slurmctld, slurmd, slurm-client, slurmdbd and
    mariadb-server). Where either is missing the session says it skipped and why; with
    ATTNBENCH_REQUIRE_SLURM=1 (CI) it fails instead.
    """
    why = _slurm_unavailable()
    if why:
        if os.environ.get("ATTNBENCH_REQUIRE_SLURM"):
            session.error(f"ATTNBENCH_REQUIRE_SLURM is set, but {why}")
        session.skip(why)
    install(session, "test")
    folder = tempfile.mkdtemp(prefix="attnbench-slurm-")
    try:
        session.run("scripts/slurm/start.sh", folder, external=True)
        env = {"SLURM_CONF": f"{folder}/etc/slurm.conf", "ATTNBENCH_REQUIRE_SLURM": "1"}
        tests = ["tests/sweep/test_slurm.py", "tests/sweep/test_slurm_cluster.py"]
        session.run("pytest", "-q", "-m", "not slow", *tests, *session.posargs, env=env)
    finally:
        session.run("scripts/slurm/stop.sh", folder, "--purge", external=True)


def _slurm_unavailable() -> str | None:
    """Why a single-node Slurm cannot be stood up here, or None."""
    if not sys.platform.startswith("linux"):
        return f"needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "needs root to run the Slurm daemons (scripts/slurm/start.sh)"
    daemons = ("munged", "slurmctld", "slurmd", "slurmdbd", "mariadbd", "sbatch")
    if not all(shutil.which(d) or os.path.exists(f"/usr/sbin/{d}") for d in daemons) and not shutil.which("apt-get"):
        return "Slurm and MariaDB are not installed and there is no apt-get to install them"
    return None


@nox.session
def bench_env(session: nox.Session) -> None:
    """asv the way CI runners use it: HEAD built and installed into asv's own environment for the matrix.

    asv creates the environment with the matrix's torch, installs HEAD's wheel with --no-deps, and
    benchmarks/envcheck.py fails the install if the environment's torch is not the matrix's; then one
    cheap benchmark runs there. Extra arguments go to `asv run` (e.g. `-b Track` to run more).
    """
    session.install("asv>=0.6,<0.7", "virtualenv")
    session.run("asv", "machine", "--yes")
    args = session.posargs or ["-b", r"track_flops_fwd\('lstm'"]
    session.run("asv", "run", "--quick", "--show-stderr", *args, f"{_head(session)}^!")


def _head(session: nox.Session) -> str:
    return session.run("git", "rev-parse", "HEAD", silent=True, external=True).strip()
