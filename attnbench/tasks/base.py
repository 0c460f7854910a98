"""The interface every task implements, built-in or plugin.

A task is a seeded generator of batches ``(x, y)`` with ``x`` of shape (B, T, input_size), plus the
loss to train on, the score to report (accuracy, or an error such as MSE) and the score of chance.
Variants produce per-step outputs (B, T, output_size); the task decides which steps count.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from attnbench.errors import UsageError
from attnbench.params import Param, axis_params, resolve_params

SPLITS = ("train", "valid", "test")


# The values each metric a task's score() returns can take, (low, high) inclusive, None where unbounded:
# a target outside them can never be reached (accuracy 2) or is reached by any run (accuracy -5).
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {"accuracy": (0.0, 1.0), "mse": (0.0, None)}


class Task:
    """Base class of every task.

    Subclasses set ``params`` (declared hyperparameters; the sequence-length parameter answers to the
    ``seq_len`` sweep axis), ``description``, ``metric`` and ``higher_is_better``, and implement
    :meth:`sample`, :meth:`loss` and :meth:`score`. Register with
    ``@attnbench.tasks.register_task``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    metric: ClassVar[str] = "accuracy"  # what score() returns
    higher_is_better: ClassVar[bool] = True
    # What "solved" means: the score a run must reach (>= when higher is better, <= otherwise) for its
    # steps_to_target / seconds_to_target and the success rate; None: the task declares none.
    target: ClassVar[float | None] = None
    # The splits sample() accepts (plugin API 2: all three). A task from outside attnbench that does not
    # set it is asked once whether it takes "valid" (see validation_split): a task written to plugin
    # API 1 knew only "train" and "test".
    splits: ClassVar[tuple[str, ...]] = SPLITS

    def __init__(self, **params: Any) -> None:
        self.config: dict[str, Any] = resolve_params(self.params, params, self.name or type(self).__name__)

    @classmethod
    def resolve(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``params`` and fill in defaults."""
        return resolve_params(cls.params, params, cls.name or cls.__name__)

    @property
    def input_size(self) -> int:
        """Features per input step (I)."""
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        """Outputs per step the variant must produce (C)."""
        raise NotImplementedError

    @property
    def seq_len(self) -> int:
        """Total number of input steps T of a batch."""
        raise NotImplementedError

    @property
    def chance(self) -> float:
        """The score of a predictor that ignores the input (accuracy of guessing, or the trivial MSE)."""
        raise NotImplementedError

    @classmethod
    def score_range(cls) -> tuple[float | None, float | None]:
        """The values :meth:`score` can take, ``(low, high)`` with None where unbounded: its metric's
        (:data:`METRIC_RANGES`), unbounded for a metric not listed there. A target must lie in it."""
        return METRIC_RANGES.get(cls.metric, (None, None))

    @classmethod
    def seq_len_param(cls) -> str | None:
        """Name of the parameter on the ``seq_len`` sweep axis, or None where the length is fixed."""
        return axis_params(cls.params).get("seq_len")

    def with_seq_len(self, value: int) -> Task:
        """This task with its sequence-length parameter set to ``value``, the others kept."""
        name = self.seq_len_param()
        if name is None:
            raise UsageError(f"task {self.name!r} has no sequence-length parameter; its length is fixed")
        return type(self)(**{**self.config, name: value})

    def transfer_tasks(self) -> dict[int, Task]:
        """Tasks to evaluate a model trained on this one, keyed by their sequence-length parameter.

        Empty except for transfer tasks (train at one length, evaluate at longer ones).
        """
        return {}

    def label(self) -> str:
        """Deterministic display name, e.g. ``copy[seq_len=100]`` (parameters sorted)."""
        items = ",".join(f"{k}={v}" for k, v in sorted(self.config.items()))
        return f"{self.name}[{items}]" if items else self.name

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        split: str = "train",
    ) -> tuple[Tensor, Tensor]:
        """A batch ``(x, y)`` drawn with ``generator``; ``split`` is "train", "valid" or "test".

        The validation split gives the learning curve and chooses the learning rate; it must be
        distinct from the training data and from the final test data (synthetic tasks: the caller
        passes a generator of its own; data sets: a held-out part of the training data).

        Built-in tasks draw on the generator's device and then move the batch to ``device`` (default:
        the generator's), so one CPU generator gives the same batches on every device.
        """
        raise NotImplementedError

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The training loss of per-step outputs (B, T, C) against targets ``y``."""
        raise NotImplementedError

    def score(self, logits: Tensor, y: Tensor) -> float:
        """The reported metric (:attr:`metric`) of outputs against targets."""
        raise NotImplementedError

    def last_step_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The loss of the output at the last step alone (gradient-reach measurement differentiates
        it with respect to earlier hidden states)."""
        raise NotImplementedError


class PluginContractWarning(UserWarning):
    """A plugin written to an earlier plugin API, kept working the way the notice says."""


_VALIDATION_SPLIT: dict[type, str] = {}


def validation_split(task: Task) -> str:
    """The split the learning curve's validation batches are drawn through: "valid", or "train" for a task
    whose ``sample`` does not take "valid" (plugin API 1), whose validation batches then come from a
    stream of their own (the caller's generator) through its training split, with one notice per task.

    A task that declares ``splits`` (every built-in, through :class:`Task`) is taken at its word; one from
    outside attnbench that does not is asked once, with a one-example batch of ``split="valid"``: a
    ``ValueError`` or ``KeyError`` from it means it does not take that split.
    """
    cls = type(task)
    if cls not in _VALIDATION_SPLIT:
        _VALIDATION_SPLIT[cls] = "valid" if _takes_valid(task) else "train"
        if _VALIDATION_SPLIT[cls] == "train":
            warnings.warn(
                f"task {task.name or cls.__name__!r} ({cls.__module__}) does not take split='valid' (plugin API 1); "
                "its validation batches are drawn through split='train' from a stream of their own "
                "(docs/plugins.md: accept 'valid' and declare splits for plugin API 2)",
                PluginContractWarning,
                stacklevel=2,
            )
    return _VALIDATION_SPLIT[cls]


def _takes_valid(task: Task) -> bool:
    cls = type(task)
    declared = any("splits" in vars(c) for c in cls.__mro__ if c is not Task)
    if declared or cls.__module__.startswith("attnbench."):
        return "valid" in cls.splits
    try:
        task.sample(1, torch.Generator().manual_seed(0), "cpu", split="valid")
    except (ValueError, KeyError):
        return False
    return True


def check_split(task: Task, split: str) -> None:
    """Reject a split other than "train", "valid" or "test" (a programming error, not a user's)."""
    if split not in SPLITS:
        raise ValueError(f"{task.name}: split={split!r} is not allowed; expected 'train', 'valid' or 'test'")
