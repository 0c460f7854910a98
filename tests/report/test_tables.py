"""One tidy table from results directories and asv folders; bad paths are one-line usage errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from attnbench.errors import UsageError
from attnbench.report.tables import chosen_costs, format_value, grad_reach_table, load_table

from .conftest import ASV, SWEEP, tiny_results


def test_sweep_fixture_becomes_the_schema_table():
    table = load_table(SWEEP)
    frame = table.frame
    assert len(frame) == 13 and table.notes == [] and table.sources == [str(SWEEP)]
    assert sorted(frame["status"].unique()) == ["error", "ok", "oom", "skipped", "timeout"]
    assert frame["seq_len"].dtype == float and frame["step_time_s"].dtype == float
    ok = frame[frame["status"] == "ok"]
    assert (ok["flops_step"] == ok["flops_fwd"] + ok["flops_bwd"]).all()
    assert frame.loc[frame["status"] == "oom", "step_time_s"].isna().all()  # missing stays missing, never 0
    assert set(frame["series"]) >= {"lstm", "dense", "rsm[nu=10,rho=15]"}
    assert frame["higher_is_better"].all()


def test_results_dirs_and_asv_folders_make_one_table():
    frame = load_table([SWEEP, ASV]).frame
    assert set(frame["source"]) == {str(SWEEP), str(ASV)}
    assert set(frame["task"]) == {"copy", "(task not recorded)"}
    assert list(frame.columns[:3]) == ["point_id", "label", "variant"]


def test_chosen_costs_take_the_first_measured_alternative():
    assert chosen_costs(load_table(SWEEP).frame) == ["step_time_s", "saved_bytes", "rss_peak_bytes", "flops_step"]
    assert chosen_costs(load_table(ASV).frame) == ["step_time_s", "saved_bytes", "rss_peak_bytes", "flops_fwd"]


def test_damaged_file_warns_once_and_the_rest_is_read(tmp_path):
    tiny_results(tmp_path / "r")
    (tmp_path / "r" / "points" / "bad.json").write_text("{")
    with pytest.warns(UserWarning, match="skipped 1 damaged") as record:
        table = load_table(tmp_path / "r")
    assert len(record) == 1
    assert len(table.frame) == 2 and any("damaged" in n for n in table.notes)


@pytest.mark.parametrize("kind", ["missing", "plain folder", "empty results dir", "no paths"])
def test_bad_input_is_a_usage_error_naming_the_path(tmp_path, kind):
    if kind == "missing":
        paths, name = [tmp_path / "nope"], "nope"
    elif kind == "plain folder":
        (tmp_path / "stuff").mkdir()
        paths, name = [tmp_path / "stuff"], "stuff"
    elif kind == "empty results dir":
        (tmp_path / "empty" / "points").mkdir(parents=True)
        paths, name = [tmp_path / "empty"], "empty"
    else:
        paths, name = [], "no results paths"
    with pytest.raises(UsageError, match=name) as info:
        load_table(paths)
    assert "\n" not in str(info.value)


def test_grad_reach_table_is_long_and_only_from_ok_points():
    reach = grad_reach_table(load_table(SWEEP).frame)
    assert list(reach.columns) == ["task", "variant", "series", "seq_len", "distance", "norm"]
    assert set(reach["variant"]) == {"lstm", "dense", "rsm", "sab"}
    assert not reach[(reach["variant"] == "dense") & (reach["seq_len"] == 120)].shape[0]  # oom point
    assert (reach["norm"] == 0).any()  # truncated sab: exactly zero is kept
    assert grad_reach_table(pd.DataFrame({"status": ["ok"], "grad_reach": ["not json"]})).empty


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0123, "s", "12.3 ms"),
        (2.5, "s", "2.5 s"),
        (4e-6, "s", "4 µs"),
        (1.5e6, "bytes", "1.5 MB"),
        (512, "bytes", "512 B"),
        (3e9, "FLOP", "3 GFLOP"),
        (0.875, "", "0.875"),
        (None, "s", "–"),
        (math.nan, "", "–"),
    ],
)
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_an_ok_row_whose_seq_len_is_not_a_number_is_skipped_and_counted(tmp_path):
    path = tiny_results(tmp_path / "r")
    point = path / "points" / "p20.json"
    point.write_text(point.read_text().replace('"seq_len": 20', '"seq_len": null'))
    with pytest.warns(UserWarning, match="skipped 1 ok row"):
        table = load_table(path)
    assert list(table.frame["seq_len"]) == [40.0]
    assert any("skipped 1 ok row" in n and "seq_len" in n for n in table.notes)
    from attnbench.report import build_report

    with pytest.warns(UserWarning, match="skipped 1 ok row"):
        index = build_report([path], tmp_path / "report")
    assert "skipped 1 ok row" in index.read_text()


def test_a_row_whose_seq_len_is_text_is_damaged_and_counted(tmp_path):
    path = tiny_results(tmp_path / "r")
    point = path / "points" / "p20.json"
    point.write_text(point.read_text().replace('"seq_len": 20', '"seq_len": "twenty"'))
    with pytest.warns(UserWarning, match=r"skipped 1 damaged record\(s\)"):
        table = load_table(path)
    assert list(table.frame["seq_len"]) == [40.0]


def test_series_name_the_task_parameters_that_vary():
    from attnbench.report.tables import normalise

    rows = [
        {"label": "dense", "variant": "dense", "task": "mqar", "task_params": '{"pairs": 4, "seq_len": 64}'},
        {"label": "dense", "variant": "dense", "task": "mqar", "task_params": '{"pairs": 8, "seq_len": 64}'},
        {"label": "lstm", "variant": "lstm", "task": "copy", "task_params": '{"seq_len": 10}'},
        {"label": "lstm", "variant": "lstm", "task": "copy", "task_params": '{"seq_len": 30}'},
    ]
    for row, length in zip(rows, (64, 64, 30, 50)):
        row["seq_len"] = length
    series = list(normalise(pd.DataFrame(rows))["series"])
    # two numbers of pairs are two series; copy's length is the seq_len axis, not part of the name
    assert series == ["dense (pairs=4)", "dense (pairs=8)", "lstm", "lstm"]


def test_a_results_folder_and_its_copy_count_each_run_once(tmp_path):
    import shutil

    shutil.copytree(SWEEP, tmp_path / "copy_of_sweep")
    with pytest.warns(UserWarning, match=r"skipped 13 duplicate record\(s\) in .*copy_of_sweep"):
        table = load_table([SWEEP, tmp_path / "copy_of_sweep"])
    assert len(table.frame) == 13 and set(table.frame["source"]) == {str(SWEEP)}
    assert any("duplicate record(s)" in note for note in table.notes)  # the report's notices say so
