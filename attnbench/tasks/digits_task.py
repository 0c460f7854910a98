"""digits: scikit-learn's 1,797 real 8x8 handwritten digits, read pixel by pixel (64 steps).

A small stand-in for pixel and permuted MNIST that ships with scikit-learn (no download). The test
split is a fixed 20% (360 images) chosen by a seeded shuffle, the same on every machine.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from attnbench.tasks._images import PERM_SEED, PERMUTE, ImageSequenceTask
from attnbench.tasks.registry import register_task

TEST_IMAGES = 360  # 20% of the 1,797
SPLIT_SEED = 0
MAX_INTENSITY = 16.0  # load_digits pixels are 0..16


@functools.lru_cache(maxsize=1)
def _digits() -> dict[str, tuple[Tensor, Tensor]]:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    data = load_digits()
    images = torch.from_numpy(data.data).to(torch.uint8)  # (1797, 64), values 0..16
    labels = torch.from_numpy(data.target).long()
    order = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(SPLIT_SEED))
    test, train = order[:TEST_IMAGES], order[TEST_IMAGES:]
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


@register_task
class DigitsTask(ImageSequenceTask):
    """Classify scikit-learn's 8x8 digits from their 64 pixels in sequence (optionally permuted)."""

    name = "digits"
    description = "sequential 8x8 digits (scikit-learn load_digits), 64 steps, optional fixed permutation"
    params = (PERMUTE, PERM_SEED)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.set_data(_digits(), 1.0 / MAX_INTENSITY)
