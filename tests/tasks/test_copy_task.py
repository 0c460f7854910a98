"""copy and transfer_copy: the layout of the released code, T-1 blanks, length T+20."""

from __future__ import annotations

import pytest
import torch

from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.tasks import build_task
from attnbench.tasks.copy_task import CopyTask, TransferCopyTask


def codes(x: torch.Tensor) -> torch.Tensor:
    return x.argmax(-1)


@pytest.mark.parametrize("t", [1, 7, 100])
def test_copy_layout(t):
    task = CopyTask(seq_len=t)
    x, y = task.sample(16, torch.Generator().manual_seed(t))
    assert task.seq_len == t + 20
    assert x.shape == (16, t + 20, 10) and y.shape == (16, t + 20)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(x.sum(-1), torch.ones(16, t + 20))  # one-hot
    c = codes(x)
    symbols = c[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (c[:, 10 : t + 9] == 0).all()  # T-1 blanks
    assert (c[:, t + 9] == 9).all()  # the marker
    assert (c[:, t + 10 :] == 0).all()  # 10 blanks while recalling
    assert (y[:, : t + 10] == 0).all()
    assert torch.equal(y[:, t + 10 :], symbols)


def test_symbols_cover_one_to_eight_uniformly():
    x, _ = CopyTask(seq_len=5).sample(2000, torch.Generator().manual_seed(0))
    counts = torch.bincount(codes(x)[:, :10].flatten(), minlength=10)
    assert counts[0] == 0 and counts[9] == 0
    freq = counts[1:9].float() / counts.sum()
    assert torch.allclose(freq, torch.full((8,), 1 / 8), atol=0.01)


def test_same_seed_same_batch_other_seed_other_batch():
    task = CopyTask(seq_len=20)
    a = task.sample(8, torch.Generator().manual_seed(3))
    b = task.sample(8, torch.Generator().manual_seed(3))
    c = task.sample(8, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_sample_moves_to_device():
    x, y = CopyTask(seq_len=3).sample(2, torch.Generator().manual_seed(0), device="meta")
    assert x.device.type == "meta" and y.device.type == "meta"


@pytest.mark.parametrize("bad", [0, -5])
def test_non_positive_delay_is_a_parameter_error(bad):
    with pytest.raises(ParameterError, match="seq_len"):
        build_task("copy", seq_len=bad)


def test_transfer_copy_default_lengths_and_tasks():
    task = TransferCopyTask(seq_len=10)
    assert task.eval_lens == (20, 30, 50)
    others = task.transfer_tasks()
    assert sorted(others) == [20, 30, 50]
    assert all(isinstance(o, CopyTask) and o.seq_len == n + 20 for n, o in others.items())
    assert CopyTask(seq_len=10).transfer_tasks() == {}


def test_transfer_copy_explicit_lengths():
    task = build_task("transfer_copy", seq_len=10, eval_lens="40, 10,20")
    assert task.eval_lens == (10, 20, 40)


def test_transfer_shorter_than_training_is_an_error():
    with pytest.raises(UsageError, match="shorter than the training delay"):
        build_task("transfer_copy", seq_len=100, eval_lens="200,50")


@pytest.mark.parametrize("bad", ["", "a,b", "100,0", "1.5"])
def test_transfer_lengths_must_parse(bad):
    with pytest.raises(ParameterError, match="eval_lens"):
        build_task("transfer_copy", seq_len=10, eval_lens=bad)


def test_with_seq_len_keeps_other_params():
    task = build_task("transfer_copy", seq_len=10, eval_lens="50")
    longer = task.with_seq_len(20)
    assert longer.seq_len == 40 and longer.eval_lens == (50,)
    assert task.label() == "transfer_copy[eval_lens=50,seq_len=10]"
