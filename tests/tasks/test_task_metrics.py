"""Every task: a perfect predictor scores perfectly, a predictor that ignores the input scores chance.

Parametrized over the registry, so a plugin's task is checked too (if it builds with its defaults).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnbench.tasks import TASKS, build_task
from attnbench.tasks.base import Task
from tests.tasks.idx_files import write_mnist

# small lengths keep the batches cheap; tasks without a length parameter use their own
SMALL = {"copy": 20, "transfer_copy": 20, "denoise": 20, "adding": 20}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mnist")
    write_mnist(directory)
    return str(directory)


@pytest.fixture
def make(mnist_dir):
    """Build a task small and cheap: a short length, tiny IDX files for mnist."""

    def build(name: str) -> Task:
        params = {"path": mnist_dir} if name == "mnist" else {}
        if name == "mqar":
            params["vocab_size"] = 64  # Zoology's 8,192 classes: one-hot inputs of 8,192 codes per step
        length = TASKS.get(name).seq_len_param()
        if length:
            params[length] = SMALL.get(name, 30)
        return build_task(name, **params)

    return build


def perfect_logits(task: Task, y: torch.Tensor) -> torch.Tensor:
    t, c = task.seq_len, task.output_size
    if y.dim() == 2:  # a target per step (copy, denoise; mqar's unscored steps are -100)
        return F.one_hot(y.clamp(min=0), c).float() * 20
    logits = torch.zeros(y.shape[0], t, c)
    if task.metric == "mse":
        logits[:, -1, 0] = y
    else:
        logits[:, -1] = F.one_hot(y, c).float() * 10
    return logits


def chance_logits(task: Task, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Ignore the input: guess a symbol (never blank) or class at random, or predict the mean of the sum."""
    b, t, c = y.shape[0], task.seq_len, task.output_size
    if task.metric == "mse":
        return torch.ones(b, t, 1)
    low = 1 if y.dim() == 2 else 0  # recall tasks: blank (0) is never a symbol
    if y.dim() == 2 and (y < 0).any():  # mqar: answers are values, the upper half of the vocabulary
        low = c // 2
    guess = torch.randint(low, c, (b, t), generator=generator)
    return F.one_hot(guess, c).float()


BUILT_IN = ["adding", "copy", "denoise", "digits", "mnist", "transfer_copy"]


def test_built_ins_are_registered():
    assert set(BUILT_IN) <= set(TASKS.names())


@pytest.mark.parametrize("name", TASKS.names())
def test_declares_the_interface(make, name):
    task = make(name)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, task.seq_len, task.input_size) and y.shape[0] == 4
    assert isinstance(task.metric, str) and task.metric
    assert isinstance(task.higher_is_better, bool)
    assert task.description


@pytest.mark.parametrize("name", TASKS.names())
def test_perfect_predictor_scores_perfectly(make, name):
    task = make(name)
    _, y = task.sample(64, torch.Generator().manual_seed(0), split="test")
    logits = perfect_logits(task, y)
    best = 1.0 if task.higher_is_better else 0.0
    assert task.score(logits, y) == pytest.approx(best, abs=1e-6)
    assert task.loss(logits, y).item() < 1e-3
    assert task.last_step_loss(logits, y).item() < 1e-3


@pytest.mark.parametrize("name", TASKS.names())
def test_chance_predictor_scores_near_chance(make, name):
    task = make(name)
    g = torch.Generator().manual_seed(1)
    _, y = task.sample(4000, g, split="test")
    score = task.score(chance_logits(task, y, g), y)
    assert score == pytest.approx(task.chance, rel=0.1)


@pytest.mark.parametrize("name", TASKS.names())
def test_loss_is_differentiable_and_last_step_loss_reads_only_the_last_step(make, name):
    task = make(name)
    _, y = task.sample(8, torch.Generator().manual_seed(0))
    logits = torch.randn(8, task.seq_len, task.output_size, requires_grad=True)
    task.loss(logits, y).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    logits.grad = None
    task.last_step_loss(logits, y).backward()
    # the last step, or where only some steps are scored (mqar: -100 elsewhere), each row's last scored step
    last = torch.full((8,), task.seq_len - 1)
    if y.dim() == 2 and (y < 0).any():
        steps = torch.arange(y.shape[1]).expand_as(y)
        last = torch.where(y >= 0, steps, -1).amax(1)
    read = torch.zeros_like(logits, dtype=torch.bool)
    read[torch.arange(8), last] = True
    assert logits.grad[~read].abs().sum() == 0 and logits.grad[read].abs().sum() > 0


def test_copy_loss_covers_every_step_but_accuracy_only_the_last_ten():
    task = build_task("copy", seq_len=20)
    _, y = task.sample(16, torch.Generator().manual_seed(0))
    logits = perfect_logits(task, y)
    wrong_early = logits.clone()
    wrong_early[:, :-10] = wrong_early[:, :-10].roll(1, dims=2)  # wrong everywhere but the recall steps
    assert task.score(wrong_early, y) == 1.0
    assert task.loss(wrong_early, y) > task.loss(logits, y) + 1
    wrong_last = logits.clone()
    wrong_last[:, -1] = wrong_last[:, -1].roll(1, dims=1)
    assert task.score(wrong_last, y) == pytest.approx(0.9)


def test_shape_mismatch_is_a_clear_error():
    task = build_task("copy", seq_len=5)
    _, y = task.sample(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"expected logits \(B, T, 9\)"):
        task.loss(torch.zeros(2, 25, 10), y)
