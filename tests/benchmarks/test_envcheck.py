"""The asv environment check: the torch of an asv environment must be the one its matrix names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import envcheck

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("virtualenv-py3.11-torch2.13.0", "2.13.0"),
        ("virtualenv-py3.11-torch2.13.0+cu130", "2.13.0+cu130"),
        ("virtualenv-py3.12-numpy-torch==2.13.0-OMP_NUM_THREADS1", "2.13.0"),
        ("virtualenv-py3.11-torch", ""),
        ("virtualenv-py3.11-torchvision0.29.1", None),
        ("virtualenv-py3.11", None),
    ],
)
def test_the_matrix_torch_is_read_from_the_environment_name(name, wanted):
    assert envcheck.matrix_torch(name) == wanted


def test_the_matrix_release_passes_in_any_build_where_it_fits():
    assert envcheck.problem("2.13.0", "2.13.0+cpu", None, gpu=False) is None
    assert envcheck.problem("2.13.0", "2.13.0", "13.0", gpu=True) is None
    assert envcheck.problem("2.13.0+cu130", "2.13.0+cu130", "13.0", gpu=True) is None
    assert envcheck.problem("", "2.14.1+cu130", "13.0", gpu=False) is None  # the matrix pins nothing


def test_another_release_or_build_fails():
    # what asv's default install command did: re-resolved torch to the newest release
    assert "holds torch 2.14.1+cu130, but the asv matrix names torch 2.13.0" in envcheck.problem(
        "2.13.0", "2.14.1+cu130", "13.0", gpu=True
    )
    assert "names torch 2.13.0+cpu" in envcheck.problem("2.13.0+cpu", "2.13.0+cu130", "13.0", gpu=True)
    assert "a CUDA 13.0 build, on a machine without an NVIDIA GPU" in envcheck.problem(
        "2.13.0", "2.13.0", "13.0", gpu=False
    )


def _run(env_name: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "ASV_ENV_NAME": env_name} if env_name else {"PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "benchmarks/envcheck.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_script_fails_an_environment_whose_torch_is_not_the_matrix_one():
    release = torch.__version__.partition("+")[0]
    major, minor, _ = release.split(".", 2)
    other = f"{major}.{int(minor) + 1}.0"
    bad = _run(f"virtualenv-py3.11-torch{other}")
    assert bad.returncode == 1 and f"but the asv matrix names torch {other}" in bad.stderr
    assert bad.stderr.count("\n") == 1  # one line, no traceback
    if torch.version.cuda is None or envcheck.has_nvidia_gpu():
        good = _run(f"virtualenv-py3.11-torch{release}")
        assert good.returncode == 0, good.stderr
    unchecked = _run(None)
    assert unchecked.returncode == 0 and "not checked" in unchecked.stdout
    assert _run("existing-py_usr_bin_python3").returncode == 0


def _asv_conf() -> dict:
    from asv.util import load_json

    return load_json(str(ROOT / "asv.conf.json"), js_comments=True)


def test_asv_installs_the_commit_alone_and_checks_the_torch():
    conf = _asv_conf()
    install = conf["install_command"]
    assert any("--no-deps" in cmd and "--force-reinstall" in cmd and "{wheel_file}" in cmd for cmd in install)
    assert not any("--force-reinstall" in cmd and "--no-deps" not in cmd for cmd in install)
    assert install[-1].endswith("python benchmarks/envcheck.py")


def test_the_matrix_torch_is_the_one_nox_installs_on_a_cpu_machine():
    nox_torch = re.search(r'CPU_TORCH = "torch==([^"]+)"', (ROOT / "noxfile.py").read_text()).group(1)
    assert _asv_conf()["matrix"]["req"]["torch"] == [nox_torch]
    assert json.loads(json.dumps(_asv_conf()))["launch_method"] in ("forkserver", "spawn")
