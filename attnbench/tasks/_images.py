"""What sequential digits and pixel MNIST share: classify an image read one pixel per step.

The image is flattened row by row, optionally reordered by a fixed permutation drawn from
``perm_seed`` (the papers' permuted MNIST), and fed as one intensity in [0, 1] per step. Only the last
step's output is classified: loss, accuracy and the last-step loss all read it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.params import Param
from attnbench.tasks.base import Task, check_split

N_CLASSES = 10
VALID_SPLIT_SEED = 0x7A11D  # the fixed shuffle that holds a tenth of the training images out for validation

PERMUTE = Param("permute", False, bool, help="read the pixels in a fixed random order (permuted MNIST)")
PERM_SEED = Param("perm_seed", 0, int, low=0, help="seed of the fixed pixel permutation")


def fixed_permutation(n: int, seed: int) -> Tensor:
    """The same permutation of ``range(n)`` for a given seed, on every machine (torch's CPU generator)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


class ImageSequenceTask(Task):
    """Base of pixel-by-pixel image classification.

    Subclasses call :meth:`set_data` in ``__init__`` with uint8 or float images (N, P) and long labels
    (N,) per split. Pixel values are scaled by ``scale`` to [0, 1].
    """

    metric = "accuracy"
    higher_is_better = True
    target = 0.97  # pixel-by-pixel MNIST: LSTM and IRNN reach 97-98% (Le, Jaitly and Hinton 2015)

    def set_data(self, splits: dict[str, tuple[Tensor, Tensor]], scale: float) -> None:
        """Keep the images (N, P) and labels (N,) of each split, and the pixel order to read them in.

        Without a "valid" split, a fixed tenth of the training images (at least one; chosen by a seeded
        shuffle, the same on every machine) is held out as the validation split and never trained on.
        """
        splits = dict(splits)
        if "valid" not in splits:
            images, labels = splits["train"]
            order = fixed_permutation(int(labels.shape[0]), VALID_SPLIT_SEED)
            n_valid = max(1, int(labels.shape[0]) // 10)
            held, kept = order[:n_valid].sort().values, order[n_valid:].sort().values
            splits["valid"] = (images[held], labels[held])
            splits["train"] = (images[kept], labels[kept])
        self._splits = splits
        self._scale = scale
        pixels = next(iter(splits.values()))[0].shape[1]
        self._order = fixed_permutation(pixels, self.config["perm_seed"]) if self.config["permute"] else None

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return N_CLASSES

    @property
    def seq_len(self) -> int:
        return int(self._splits["train"][0].shape[1])

    @property
    def chance(self) -> float:
        return 1.0 / N_CLASSES

    def split_size(self, split: str) -> int:
        """Number of images in ``split``."""
        check_split(self, split)
        return int(self._splits[split][1].shape[0])

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        split: str = "train",
    ) -> tuple[Tensor, Tensor]:
        check_split(self, split)
        images, labels = self._splits[split]
        # images drawn uniformly with replacement: every batch is an independent draw of the split
        idx = torch.randint(0, labels.shape[0], (batch_size,), generator=generator, device=generator.device).cpu()
        pixels = images[idx].float() * self._scale  # (B, P)
        if self._order is not None:
            pixels = pixels[:, self._order]
        device = generator.device if device is None else device
        return pixels.unsqueeze(2).to(device), labels[idx].to(device)  # (B, P, 1), (B,)

    def _last(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.dim() != 3 or logits.shape[2] != N_CLASSES or y.shape != logits.shape[:1]:
            raise ValueError(
                f"{self.name}: expected logits (B, T, {N_CLASSES}) and labels (B,), "
                f"got {tuple(logits.shape)} and {tuple(y.shape)}"
            )
        return logits[:, -1]

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self._last(logits, y), y)

    def score(self, logits: Tensor, y: Tensor) -> float:
        return (self._last(logits, y).argmax(-1) == y).float().mean().item()

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return self.loss(logits, y)
