"""Results directories: damaged, foreign and duplicate point files are skipped and counted, never fatal."""

from __future__ import annotations

import json
import os
import stat
import warnings

import pytest

from attnbench.results import ResultsDir, load


def _store(path, n=2):
    store = ResultsDir(path)
    for i in range(n):
        store.write({"point_id": f"p{i}", "variant": "lstm", "seq_len": 10 * (i + 1), "status": "ok"})
    return store


@pytest.mark.parametrize("version", ["1", None, 1.5, True, [1], 99])
def test_a_row_of_an_unreadable_schema_version_is_counted_as_damaged(tmp_path, version):
    store = _store(tmp_path / "r")
    (store.points / "odd.json").write_text(json.dumps({"point_id": "odd", "schema_version": version}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load(tmp_path / "r")
    assert sorted(frame["point_id"]) == ["p0", "p1"]
    assert [str(w.message) for w in caught] == [f"skipped 1 damaged record(s) in {tmp_path / 'r'}"]
    assert set(store.stored()) == {"p0", "p1"}  # what --resume sees
    assert store.read("odd") is None


def test_point_files_and_manifest_get_the_umasks_mode(tmp_path):
    old = os.umask(0o022)
    try:
        store = _store(tmp_path / "r", n=1)
    finally:
        os.umask(old)
    for path in (store.point_path("p0"), store.path / "manifest.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_copy_under_another_name_is_one_row_and_a_warning(tmp_path):
    store = _store(tmp_path / "r")
    original = store.point_path("p0").read_text()
    (store.points / "p0 (copy).json").write_text(original.replace('"status": "ok"', '"status": "error"'))
    (store.points / "a-copy.json").write_text(original.replace('"status": "ok"', '"status": "error"'))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load(tmp_path / "r")
    assert sorted(frame["point_id"]) == ["p0", "p1"]
    assert frame.set_index("point_id").loc["p0", "status"] == "ok"  # the file named after the point wins
    assert len(caught) == 1 and "skipped 2 duplicate record(s)" in str(caught[0].message)
    assert store.stored()["p0"]["status"] == "ok"


def test_an_interrupted_write_leaves_a_temporary_file_named_after_its_point(tmp_path, monkeypatch):
    store = _store(tmp_path / "r", n=0)

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        store.write({"point_id": "p9", "status": "ok"})
    assert store.tmp_files("p9") == [] and list(store.points.iterdir()) == []


def test_a_folder_loaded_twice_or_with_its_copy_is_one_row_per_point_and_a_warning(tmp_path):
    import shutil

    _store(tmp_path / "d")
    shutil.copytree(tmp_path / "d", tmp_path / "copy_of_d")
    for paths, skipped in (
        ([tmp_path / "d", tmp_path / "d"], tmp_path / "d"),
        ([tmp_path / "d", tmp_path / "copy_of_d"], tmp_path / "copy_of_d"),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = load(paths)
        assert sorted(frame["point_id"]) == ["p0", "p1"] and set(frame["source"]) == {str(tmp_path / "d")}
        assert [str(w.message) for w in caught] == [
            f"skipped 2 duplicate record(s) in {skipped} (point ids already read from {tmp_path / 'd'}: "
            "a copy of those results?)"
        ]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("lr", "fast"),
        ("seed", "zero"),
        ("score", "high"),
        ("steps_to_target", "ten"),
        ("variant_params", {"k_att": 2}),  # an object where the schema stores JSON text
        ("higher_is_better", "yes"),
        ("seq_len", 2.5),
        ("status", 3),
    ],
)
def test_a_row_with_a_value_of_the_wrong_kind_is_skipped_as_damaged(tmp_path, column, value):
    store = _store(tmp_path / "r")
    row = {"point_id": "odd", "variant": "lstm", "status": "ok", "score": 0.5, "seed": 1, "lr": 1e-3, column: value}
    (store.points / "odd.json").write_text(json.dumps(row))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load(tmp_path / "r")
    assert sorted(frame["point_id"]) == ["p0", "p1"]
    assert [str(w.message) for w in caught] == [f"skipped 1 damaged record(s) in {tmp_path / 'r'}"]
    assert "odd" not in store.stored()  # resume measures it again


def test_every_declared_column_has_a_kind_and_well_typed_rows_pass():
    from attnbench.schema import column_kinds, mistyped

    kinds = column_kinds()
    assert kinds["lr"] == "number" and kinds["seed"] == "int" and kinds["variant_params"] == "json"
    assert kinds["score"] == "number" and kinds["higher_is_better"] == "bool" and kinds["score_metric"] == "str"
    assert (
        mistyped({"lr": 1e-3, "seed": 0, "seq_len": 30.0, "memory": None, "top_k": 5, "variant_params": "{}"}) is None
    )
    assert mistyped({"lr": 1e-3, "seed": True}) == "seed"
