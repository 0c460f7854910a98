"""Spec files, presets and overrides: validation with one-line errors."""

from __future__ import annotations

import pytest

from attnbench.errors import UsageError
from attnbench.sweep import SweepSpec, load_file, load_preset, preset_names
from attnbench.sweep.spec import from_mapping, parse_bytes


def test_presets_exist_and_load():
    assert {"quick", "paper"} <= set(preset_names())
    quick = load_preset("quick")
    assert set(quick.variants) == {"lstm", "dense", "sab", "rsm"}
    assert len(quick.axes["seq_len"]) >= 3 and quick.axes["memory"] and quick.axes["top_k"]
    # the main job's comparison is a fair one: the lr chosen on validation among several, intervals over 5 seeds
    assert len(quick.seeds) >= 5 and len(quick.lrs) >= 3 and quick.train_steps > 0 and quick.group_size >= 15
    assert quick.tasks == ("copy", "adding") and quick.task_params["adding"]["seq_len"] == 20
    assert load_preset("paper").device == "cuda"
    with pytest.raises(UsageError, match="unknown preset 'fast'; presets: "):
        load_preset("fast")


def test_toml_and_yaml_files(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('variants = ["lstm"]\n[axes]\nseq_len = [5, 7]\n[variant_params.lstm]\nk_trunc = ["none", 2]\n')
    yaml = tmp_path / "s.yaml"
    yaml.write_text("variants: [lstm]\naxes:\n  seq_len: [5, 7]\nvariant_params:\n  lstm:\n    k_trunc: [none, 2]\n")
    assert load_file(toml) == load_file(yaml)
    assert load_file(toml).axes["seq_len"] == (5, 7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variants = [", "is malformed"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("batch = 0", "batch=0 is not allowed"),
        ("[axes]\nwidth = [1]", "unknown axis 'width'"),
        ("[axes]\nseq_len = [-5]", "seq_len value=-5 is not allowed"),
        ("[axes]\nseq_len = []", "axis seq_len is empty"),
        ("variants = []", "variants is empty"),
        ("device = 'tpu'", "device='tpu' is not allowed"),
    ],
)
def test_bad_spec_files_name_file_and_value(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unreadable_and_unknown_format(tmp_path):
    with pytest.raises(UsageError, match="cannot read sweep spec"):
        load_file(tmp_path / "missing.toml")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(UsageError, match=r"unknown format '\.json'"):
        load_file(tmp_path / "s.json")


def test_replace_validates():
    with pytest.raises(UsageError, match="repeats=0"):
        SweepSpec().replace(repeats=0)
    assert SweepSpec().replace(batch=3).batch == 3


def test_memory_sizes():
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("512MB") == 512 * 10**6 and parse_bytes("1e9") == 10**9
    with pytest.raises(UsageError, match="not a memory size"):
        parse_bytes("lots")
    with pytest.raises(UsageError, match="max_memory"):
        from_mapping({"max_memory": "-1GB"}, "spec")
