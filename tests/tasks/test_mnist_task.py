"""mnist: reads the standard IDX files, gzipped or not; anything wrong is a one-line error naming the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from attnbench.errors import UsageError
from attnbench.tasks import build_task
from attnbench.tasks.mnist_task import read_idx
from tests.tasks.idx_files import idx_bytes, write_mnist


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_reads_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    task = build_task("mnist", path=str(tmp_path))
    assert task.seq_len == 784 and task.input_size == 1 and task.output_size == 10
    # the 20 training images: a tenth held out for validation, never trained on
    assert task.split_size("train") == 18 and task.split_size("valid") == 2 and task.split_size("test") == 8
    x, y = task.sample(50, torch.Generator().manual_seed(0), split="test")
    assert x.shape == (50, 784, 1)
    images = torch.from_numpy(arrays["t10k-images-idx3-ubyte"].reshape(8, -1)).float() / 255
    labels = torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    for row, label in zip(x[..., 0], y):
        match = (images - row).abs().amax(1) < 1e-6
        assert match.any() and label in labels[match]


def test_permuted_mnist(tmp_path):
    write_mnist(tmp_path)
    plain = build_task("mnist", path=str(tmp_path))
    perm = build_task("mnist", path=str(tmp_path), permute=True)
    xa, _ = plain.sample(4, torch.Generator().manual_seed(0))
    xb, _ = perm.sample(4, torch.Generator().manual_seed(0))
    assert torch.equal(xb[:, :, 0], xa[:, perm._order, 0])


def test_missing_path_is_required():
    with pytest.raises(UsageError, match="path is required"):
        build_task("mnist")


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(UsageError, match=str(tmp_path / "nowhere")):
        build_task("mnist", path=str(tmp_path / "nowhere"))


def test_missing_file_names_it(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UsageError, match="t10k-labels-idx1-ubyte") as info:
        build_task("mnist", path=str(tmp_path))
    assert "\n" not in str(info.value) and "download" in str(info.value)


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "bad magic"),
        (b"\x00\x00\x0d\x03rest", "bad magic"),  # floats, not unsigned bytes
        (struct.pack(">BBBBI", 0, 0, 8, 3, 5), "header cut short"),
        (struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 28, 28) + b"\x00" * 100, "needs 1568 bytes"),
        (b"\x1f\x8bnot really gzip", "cannot read"),
    ],
    ids=["empty", "float-type", "short-header", "truncated", "bad-gzip"],
)
def test_malformed_idx_is_one_line_error_naming_the_file(tmp_path, content, why):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=why) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_malformed_file_in_directory_fails_the_task(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(UsageError, match="expected 20 labels"):
        build_task("mnist", path=str(tmp_path))


def test_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    assert np.array_equal(read_idx(path), array)
