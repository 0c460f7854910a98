"""mqar: Zoology's multi-query associative recall, its layout, its scoring and its checks."""

from __future__ import annotations

import pytest
import torch

from attnbench.errors import UsageError
from attnbench.tasks import build_task, get_task, list_tasks
from attnbench.tasks.mqar_task import IGNORE


def _batch(seed: int = 0, batch: int = 64, **params: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    task = build_task("mqar", **params)
    x, y = task.codes(batch, torch.Generator().manual_seed(seed))
    return x, y, task


def test_registered_with_the_pairs_axis() -> None:
    assert "mqar" in list_tasks()
    cls = get_task("mqar")
    assert cls.seq_len_param() == "seq_len"
    assert {p.name: p.axis for p in cls.params}["pairs"] == "pairs"


def test_layout_is_zoologys() -> None:
    t, n, v = 64, 8, 128
    x, y, _task = _batch(seq_len=t, pairs=n, vocab_size=v)
    assert x.shape == y.shape == (64, t)
    keys, values = x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2]
    assert ((keys >= 1) & (keys < v // 2)).all() and ((values >= v // 2) & (values < v)).all()
    for row in range(x.shape[0]):
        assert len(set(keys[row].tolist())) == n and len(set(values[row].tolist())) == n
        asked = (y[row] != IGNORE).nonzero().flatten()
        assert len(asked) == n  # every key is queried once
        assert (asked >= 2 * n).all() and ((asked - 2 * n) % 2 == 0).all()  # at even offsets after the pairs
        binding = dict(zip(keys[row].tolist(), values[row].tolist()))
        for pos in asked.tolist():
            assert y[row, pos].item() == binding[x[row, pos].item()]  # the query's label is its key's value
    assert (y[:, : 2 * n] == IGNORE).all()


def test_query_gaps_follow_the_power_law() -> None:
    # power_a = 0.01: most queries come right after the pairs; a uniform draw would put the mean gap mid-way
    _x, y, _task = _batch(batch=512, seq_len=256, pairs=4, vocab_size=512)
    gaps = ((y != IGNORE).nonzero()[:, 1] - 8) // 2
    space = (256 - 8) // 2
    assert gaps.float().mean() < 0.3 * space
    assert gaps.max() > space // 2  # but the tail reaches far


def test_seeded_and_one_hot() -> None:
    task = build_task("mqar", seq_len=32, pairs=4, vocab_size=64)
    a = task.sample(4, torch.Generator().manual_seed(3))
    b = task.sample(4, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (4, 32, 64) and torch.equal(a[0].sum(-1), torch.ones(4, 32))
    assert task.input_size == task.output_size == 64
    assert task.chance == pytest.approx(1 / 32)


def test_pairs_default_to_zoologys_ratio() -> None:
    assert build_task("mqar", seq_len=64).pairs == 4
    assert build_task("mqar", seq_len=256).pairs == 16
    assert build_task("mqar", seq_len=64, pairs=2).pairs == 2


def test_only_queries_count() -> None:
    _x, y, task = _batch(batch=8, seq_len=32, pairs=4, vocab_size=64)
    logits = torch.randn(8, 32, 64)
    perfect = logits.clone()
    asked = y != IGNORE
    perfect[asked] = torch.nn.functional.one_hot(y[asked], 64).float() * 100
    assert task.score(perfect, y) == 1.0
    loss = task.loss(perfect, y)
    elsewhere = perfect.clone()
    elsewhere[~asked] = torch.randn_like(elsewhere[~asked]) * 10
    assert task.loss(elsewhere, y) == loss  # positions not asked about are neither trained on nor scored
    assert task.score(elsewhere, y) == 1.0
    # the last-step loss is the loss at each sequence's last query
    last = task.last_step_loss(perfect, y)
    assert last.item() < 1e-3 and task.last_step_loss(logits, y).item() > 1.0


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"seq_len": 63}, "even"),
        ({"seq_len": 64, "vocab_size": 64}, "vocab_size=64"),
        ({"seq_len": 64, "pairs": 17}, "pairs=17"),
    ],
)
def test_bad_values_are_one_line(params: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words) as err:
        build_task("mqar", **params)
    assert "\n" not in str(err.value)


def test_a_variant_learns_it_and_lstm_is_scored_like_the_others() -> None:
    # the task plugs into training: a short run gives an accuracy in [0, 1] scored on the queries only
    from attnbench.config import Options
    from attnbench.training import build_model, train

    task = build_task("mqar", seq_len=16, pairs=2, vocab_size=32)
    model = build_model("lstm", task, 16, 0)
    result = train(model, task, Options(train_steps=3, train_batch=4, eval_batches=1), "cpu")
    assert 0.0 <= result.score <= 1.0 and result.chance == pytest.approx(1 / 16)
