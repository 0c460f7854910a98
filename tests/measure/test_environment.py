"""The environment columns, from this machine and from a fake GPU."""

from __future__ import annotations

import subprocess

import torch

from attnbench.measure import environment as env_mod
from attnbench.measure.environment import environment, git_commit
from attnbench.schema import ENV_COLUMNS
from tests.measure.conftest import make_fake_pynvml


def test_every_environment_column_on_cpu() -> None:
    row, missing = environment("cpu")
    assert set(row) == set(ENV_COLUMNS)
    assert row["torch_version"] == torch.__version__
    assert row["threads"] == torch.get_num_threads()
    assert row["cpu_model"]
    assert row["gpu_name"] is None and "measured on cpu" in missing["gpu_name"]
    assert row["gpu_driver"] is None and "gpu_driver" in missing
    for column, value in row.items():
        assert value is not None or column in missing, column


def test_git_commit_is_the_checkout_head() -> None:
    head = subprocess.run(
        ["git", "-C", str(env_mod.PACKAGE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        row, missing = environment("cpu")
        assert row["git_commit"] is None and "git" in missing["git_commit"]
    else:
        assert git_commit() == head.stdout.strip()


def test_gpu_name_and_driver_from_a_fake_gpu(fake_gpu) -> None:
    fake_gpu(make_fake_pynvml())
    row, missing = environment("cuda:0")
    assert row["gpu_name"] == "Fake GPU"
    assert row["gpu_driver"] == "550.54.15"  # bytes from old pynvml decoded
    assert "gpu_name" not in missing and "gpu_driver" not in missing
