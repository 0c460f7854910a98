"""digits: scikit-learn's 8x8 digits, one pixel per step, fixed split, optional fixed permutation."""

from __future__ import annotations

import torch

from attnbench.tasks.digits_task import TEST_IMAGES, DigitsTask, _digits


def test_digits_shapes_and_scale():
    task = DigitsTask()
    x, y = task.sample(32, torch.Generator().manual_seed(0))
    assert x.shape == (32, 64, 1) and y.shape == (32,)
    assert task.seq_len == 64 and task.input_size == 1 and task.output_size == 10
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    assert ((y >= 0) & (y <= 9)).all()


def test_split_is_a_fixed_partition_of_load_digits():
    from sklearn.datasets import load_digits

    data = _digits()
    train, test = data["train"], data["test"]
    assert test[1].shape[0] == TEST_IMAGES and train[1].shape[0] + TEST_IMAGES == 1797

    def rows(images, labels):
        return sorted(map(tuple, torch.cat([images.long(), labels[:, None]], 1).tolist()))

    full = load_digits()
    everything = rows(torch.from_numpy(full.data).long(), torch.from_numpy(full.target))
    # train and test together are every image exactly once
    assert sorted(rows(*train) + rows(*test)) == everything
    assert DigitsTask().split_size("test") == TEST_IMAGES


def test_test_split_draws_from_test_images():
    task = DigitsTask()
    x, _ = task.sample(64, torch.Generator().manual_seed(0), split="test")
    test_images = _digits()["test"][0].float() / 16
    for row in x[..., 0]:
        assert (test_images == row).all(1).any()


def test_permutation_is_fixed_per_seed_and_a_reordering():
    plain = DigitsTask()
    perm = DigitsTask(permute=True, perm_seed=3)
    same = DigitsTask(permute=True, perm_seed=3)
    other = DigitsTask(permute=True, perm_seed=4)
    xa, ya = plain.sample(16, torch.Generator().manual_seed(0))
    xb, yb = perm.sample(16, torch.Generator().manual_seed(0))
    xc, _ = same.sample(16, torch.Generator().manual_seed(0))
    xd, _ = other.sample(16, torch.Generator().manual_seed(0))
    assert torch.equal(ya, yb) and torch.equal(xb, xc) and not torch.equal(xb, xd)
    assert not torch.equal(xa, xb)
    assert torch.equal(xa.sort(1).values, xb.sort(1).values)  # same pixels, another order
    order = perm._order
    assert torch.equal(xb[:, :, 0], xa[:, order, 0])
