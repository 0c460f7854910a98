"""Expansion: per-variant axes, no duplicates, nonsense skipped with a reason, stable ids."""

from __future__ import annotations

import pytest

from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.sweep import SweepSpec, expand
from attnbench.sweep.expand import collapsed_lrs
from tests.sweep.conftest import MILLION


def _spec(**kw) -> SweepSpec:
    base = {
        "variants": ("lstm", "sab", "rsm", "dense"),
        "axes": {"seq_len": (5, 10), "memory": (2, 4), "top_k": (1, 3)},
    }
    return SweepSpec().replace(**{**base, **kw})


def test_axes_apply_only_where_a_parameter_answers():
    points = expand(_spec())
    by_variant: dict[str, list] = {}
    for p in points:
        by_variant.setdefault(p.point.variant, []).append(p.point)
    assert len(by_variant["lstm"]) == 2  # seq_len only: memory and top-k add no duplicates
    assert len(by_variant["dense"]) == 2
    assert len(by_variant["rsm"]) == 2 * 2  # seq_len x memory (rho)
    assert len(by_variant["sab"]) == 2 * 2 * 2  # seq_len x memory (max_mem) x top_k
    assert len({job.point_id for job in points}) == len(points)
    assert {p.axis_value("memory") for p in by_variant["rsm"]} == {2, 4}
    assert {p.axis_value("top_k") for p in by_variant["lstm"]} == {None}


def test_top_k_above_memory_is_skipped_with_reason():
    points = expand(_spec(variants=("sab",)))
    skipped = [job.point for job in points if job.skip_reason]
    assert {(p.axis_value("top_k"), p.axis_value("memory")) for p in skipped} == {(3, 2)}
    assert "k_top=3 exceeds max_mem=2" in skipped[0].skip_reason


def test_lists_in_variant_params_are_axes_and_labels_are_deterministic():
    points = expand(_spec(variants=("lstm",), variant_params={"lstm": {"k_trunc": ["none", 3]}}))
    assert sorted(p.label for p in points) == ["lstm", "lstm", "lstm[k_trunc=3]", "lstm[k_trunc=3]"]
    again = expand(_spec(variants=("lstm",), variant_params={"lstm": {"k_trunc": ["none", 3]}}))
    assert [p.point_id for p in points] == [p.point_id for p in again]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variants": ("gru",)}, "unknown variant 'gru'; known variants: "),
        ({"tasks": ("chess",)}, "unknown task 'chess'; known tasks: "),
        ({"variant_params": {"sab": {"k_topp": 2}}}, "unknown parameter 'k_topp'"),
        ({"variant_params": {"sab": {"k_top": 0}}}, "k_top=0 is not allowed"),
        ({"variant_params": {"gru": {"x": 1}}}, "not among the sweep's variants"),
        ({"axes": {"seq_len": (0,)}}, "seq_len value=0 is not allowed"),
    ],
)
def test_bad_grid_values(changes, message):
    with pytest.raises((UsageError, KeyError), match=message):
        expand(_spec(**changes))


# The quick preset of attnbench 0.1 (one seed, copy at three delays), before the Point/Options change
QUICK_0_1 = """
variants = ["lstm", "dense", "sab", "rsm"]
tasks = ["copy"]
batch = 16
hidden_size = 32
seeds = [0]
warmup = 1
repeats = 3
train_steps = 300
train_batch = 32
lr = 0.01
timeout_s = 600
[axes]
seq_len = [10, 30, 60]
memory = [4, 16]
top_k = [2, 5]
[variant_params.lstm]
k_trunc = ["none", 5]
[variant_params.sab]
k_att = 2
k_trunc = 5
"""


def test_ids_of_the_old_quick_preset_are_those_stored_before_point_and_options(tmp_path):
    """Resume across the Point/Options change: the 0.1 quick preset's ids are the ones attnbench 0.1 stored."""
    import hashlib

    from attnbench.sweep.spec import load_file

    path = tmp_path / "quick-0.1.toml"
    path.write_text(QUICK_0_1)
    ids = sorted(job.point_id for job in expand(load_file(path)))
    assert len(ids) == 27 and "lstm-copy-74bc8133637aa74d" in ids
    digest = "9184f2714270445aa47ac87536ddb7d7c1e28ddbcf0c626755dc201d8be40fe1"
    assert hashlib.sha256("".join(ids).encode()).hexdigest() == digest


def test_every_option_can_be_set_and_enters_the_id():
    base = expand(_spec(variants=("lstm",)))
    clipped = expand(_spec(variants=("lstm",), clip=0.5, eval_batches=3, reach=False))
    assert all(job.options.clip == 0.5 and not job.options.reach for job in clipped)
    assert {j.point_id for j in base}.isdisjoint(j.point_id for j in clipped)


def test_learning_rates_are_an_axis_like_seeds():
    jobs = expand(_spec(variants=("lstm",), seeds=(0, 1), lrs=(1e-3, 3e-3), train_steps=5))
    assert {(j.point.seed, j.options.lr) for j in jobs} == {(0, 1e-3), (0, 3e-3), (1, 1e-3), (1, 3e-3)}
    assert len({j.point_id for j in jobs}) == len(jobs) == 2 * 4  # two lengths, two seeds, two lrs
    one = expand(_spec(variants=("lstm",), lr=3e-3))  # no lrs: the options' lr alone
    assert {j.options.lr for j in one} == {3e-3}
    with pytest.raises(ParameterError, match="lrs: lr=0"):
        expand(_spec(lrs=(0,)))


def test_a_million_point_grid_expands_lazily(built):
    jobs = expand(_spec(**MILLION))
    assert len(jobs) == 1000 * 1000 and built[0] <= 1
    first = [job.point_id for job in jobs[:3]]
    assert [job.point_id for _, job in zip(range(3), jobs)] == first  # iterating builds only what is taken
    last = jobs[-1]
    assert (last.point.seq_len, last.point.seed) == (1004 + 20, 999)  # copy's length is T + 20
    assert jobs.find(last) == len(jobs) - 1 and last in jobs
    assert built[0] <= 10


def test_indexing_iteration_and_lookup_agree():
    jobs = expand(_spec(seeds=(0, 1), lrs=(1e-3, 3e-3), variants=("lstm", "sab", "rsm")))
    listed = list(jobs)
    assert [j.point_id for j in listed] == [jobs[i].point_id for i in range(len(jobs))]
    assert [j.point_id for j in jobs[::-5]] == [j.point_id for j in listed[::-5]]
    assert jobs[-1].point_id == listed[-1].point_id
    assert all(jobs.find(job) == i for i, job in enumerate(listed))
    other = expand(_spec(variants=("lstm",), seeds=(7,)))[0]
    assert other not in jobs and jobs.find(other) is None
    with pytest.raises(IndexError):
        jobs[len(jobs)]


def test_repeated_values_in_any_factor_make_no_duplicate_points():
    once = expand(_spec(variants=("lstm", "sab"), seeds=(0, 1), lrs=(1e-3,)))
    again = expand(
        _spec(
            variants=("lstm", "sab", "lstm"),
            axes={"seq_len": (5, 10, 5), "memory": (2, 4, 2), "top_k": (1, 3, 1)},
            seeds=(0, 1, 0),
            lrs=(1e-3, 0.001),
        )
    )
    assert [j.point_id for j in again] == [j.point_id for j in once]
    assert len({j.point_id for j in again}) == len(again) == len(once)
    # two spellings of one configuration (a parameter given as its default) are one point
    both = expand(_spec(variants=("lstm",), variant_params={"lstm": {"k_trunc": ["none", None]}}))
    assert len(both) == len({j.point_id for j in both}) == 2


def test_learning_rates_collapse_to_one_point_when_nothing_is_trained():
    spec = _spec(variants=("lstm",), seeds=(0,), lrs=(0.01, 0.1), train_steps=0, lr=3e-3)
    jobs = expand(spec)
    assert len(jobs) == 2 and {j.options.lr for j in jobs} == {3e-3}  # two lengths, one lr
    plain = expand(_spec(variants=("lstm",), seeds=(0,), train_steps=0, lr=3e-3))  # the same points, same ids
    assert [j.point_id for j in jobs] == [j.point_id for j in plain]
    assert "learning rates (0.01, 0.1) change no figure" in collapsed_lrs(spec)
    assert "at lr=0.003" in collapsed_lrs(spec)
    assert collapsed_lrs(_spec(lrs=(0.01, 0.1), train_steps=5)) is None and collapsed_lrs(_spec(train_steps=0)) is None
    trained = expand(_spec(variants=("lstm",), seeds=(0,), lrs=(0.01, 0.1), train_steps=5))
    assert {j.options.lr for j in trained} == {0.01, 0.1}
