"""mnist: pixel and permuted MNIST (784 steps) from the standard IDX files in a directory you give.

attnbench never downloads anything: point ``path`` at a directory holding the four files
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte`` (gzipped with a ``.gz`` suffix or not; ``train-images.idx3-ubyte``
spellings are accepted too). The official 10,000 test images are the held-out split. A missing,
unreadable or malformed file is a one-line error naming it.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from attnbench.errors import UsageError
from attnbench.params import Param
from attnbench.tasks._images import N_CLASSES, PERM_SEED, PERMUTE, ImageSequenceTask
from attnbench.tasks.registry import register_task

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST uses
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array in an IDX file of unsigned bytes, gzipped or not; :class:`UsageError` if it is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, or a corrupt gzip stream
        raise UsageError(f"{path}: cannot read: {exc}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != UBYTE or raw[3] == 0:
        raise UsageError(f"{path}: not an IDX file of unsigned bytes (bad magic number {raw[:4].hex() or 'none'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UsageError(f"{path}: malformed IDX file: header cut short")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(dims)
    if len(raw) - header != expected:
        raise UsageError(
            f"{path}: malformed IDX file: header {'x'.join(map(str, dims))} needs {expected} bytes, "
            f"file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_idx(directory: Path, stem: str) -> Path:
    """The file for ``stem`` in ``directory``: plain or ``.gz``, ``-idx`` or ``.idx`` spelling."""
    names = (stem, stem.replace("-idx", ".idx"))
    for name in names:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise UsageError(f"{directory}: no {stem} or {stem}.gz in it (MNIST IDX files are never downloaded)")


def load_mnist(directory: str | os.PathLike[str]) -> dict[str, tuple[Tensor, Tensor]]:
    """Images (N, 784) uint8 and labels (N,) long of the train and test splits in ``directory``."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory; give the directory holding the MNIST IDX files")
    splits = {}
    for split in ("train", "test"):
        image_path = find_idx(directory, FILES[(split, "images")])
        label_path = find_idx(directory, FILES[(split, "labels")])
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3:
            raise UsageError(f"{image_path}: expected an IDX array of images (N, rows, cols), got {images.ndim} dims")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise UsageError(f"{label_path}: expected {images.shape[0]} labels to match {image_path.name}")
        if labels.size and labels.max() >= N_CLASSES:
            raise UsageError(f"{label_path}: label {labels.max()} is not a digit 0..9")
        flat = torch.from_numpy(images.reshape(images.shape[0], -1).copy())
        splits[split] = (flat, torch.from_numpy(labels.astype(np.int64)))
    if splits["train"][0].shape[1] != splits["test"][0].shape[1]:
        raise UsageError(f"{directory}: train and test images differ in size")
    return splits


@register_task
class MNISTTask(ImageSequenceTask):
    """Pixel MNIST (784 steps), or permuted MNIST with ``permute=true``, from local IDX files."""

    name = "mnist"
    description = "pixel or permuted MNIST (784 steps) from the IDX files in a directory (never downloaded)"
    params = (
        Param("path", None, str, none_means="required", help="directory holding the four MNIST IDX files"),
        PERMUTE,
        PERM_SEED,
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        path = self.config["path"]
        if path is None:
            raise UsageError(f"{self.name}: path is required: the directory holding the MNIST IDX files")
        self.set_data(load_mnist(path), 1.0 / 255.0)
