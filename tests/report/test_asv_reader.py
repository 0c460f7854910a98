"""The asv results folder reader: asv 0.6's own format, checked against asv's loader."""

from __future__ import annotations

import json
import shutil

import pytest

from attnbench.report.asv_reader import column_of, is_asv_results, parse_param, read_asv

from .conftest import ASV


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("benchmarks.bench_variants.VariantSuite.time_step", "step_time_s"),
        ("anything.Else.time_forward", "fwd_time_s"),
        ("x.peakmem_step", "rss_peak_bytes"),
        ("x.Y.track_flops_fwd", "flops_fwd"),
        ("track_energy_j", "energy_j"),
        ("x.Y.track_score", "score"),
        ("x.Y.track_not_a_column", None),
        ("x.Y.time_something_else", None),
    ],
)
def test_column_of_matches_the_method_name(name, column):
    assert column_of(name) == column


@pytest.mark.parametrize(
    ("text", "value"),
    [("'sab'", "sab"), ("'1020'", 1020), ("'none'", None), ("None", None), ("512", 512), ("'0.5'", 0.5), ("x", "x")],
)
def test_parse_param(text, value):
    assert parse_param(text) == value


def test_the_fixture_is_what_asv_itself_reads():
    from asv.results import Results

    res = Results.load(str(ASV / "ci-box" / "bbbbbbbb-virtualenv-py3.11.json"), machine_name="ci-box")
    name = "bench_variants.VariantSuite.time_step"
    assert res.get_result_params(name)[0] == ["'lstm'", "'sab'", "'dense'"]
    values = res.get_result_value(name, res.get_result_params(name))
    assert values[0] == 0.01 and None in values


def test_reads_one_row_per_configuration_from_the_newest_commit():
    frame, notes = read_asv(ASV)
    ok = frame[frame["status"] == "ok"].set_index(["variant", "seq_len"])
    assert len(ok) == 8  # lstm, sab, dense at three lengths, dense at 400 failed
    lstm = ok.loc[("lstm", 200)]
    assert lstm["step_time_s"] == pytest.approx(0.02)  # newest commit (the older one is 10x)
    assert lstm["fwd_time_s"] == pytest.approx(0.008)
    assert lstm["rss_peak_bytes"] == pytest.approx(4e8)
    assert lstm["saved_bytes"] == pytest.approx(2e6)
    assert lstm["flops_fwd"] == pytest.approx(2e8)
    assert lstm["score"] == pytest.approx(0.55)
    assert lstm["git_commit"] == "bbbbbbbb22222222" and lstm["hostname"] == "ci-box"
    sab = ok.loc[("sab", 100)]
    assert (
        sab["memory"] == 8 and sab["top_k"] == 5 and sab["label"] == "sab[max_mem=8]"
    )  # as a sweep labels it (k_top=5 is the default)
    failed = frame[(frame["label"] == "dense") & (frame["seq_len"] == 400)]
    assert failed["status"].tolist() == ["error"]
    assert json.loads(failed["missing"].iloc[0])["step_time_s"] == "asv benchmark failed"
    assert set(frame["status"]) == {"ok", "error", "skipped"}
    assert any("newest commit" in n for n in notes) and any("ignored 1" in n for n in notes)
    assert any("assumes it is" in n for n in notes)  # asv stores no score direction


def test_param_names_default_to_the_contract_without_benchmarks_json(tmp_path):
    shutil.copytree(ASV, tmp_path / "asv")
    (tmp_path / "asv" / "benchmarks.json").unlink()
    frame, _ = read_asv(tmp_path / "asv")
    assert set(frame[frame["status"] == "ok"]["variant"]) == {"lstm", "sab", "dense"}


def test_a_machine_folder_alone_is_accepted(tmp_path):
    assert is_asv_results(ASV) and is_asv_results(ASV / "ci-box") and not is_asv_results(tmp_path)
    frame, _ = read_asv(ASV / "ci-box")
    assert (frame["status"] == "ok").sum() == 8


def test_damaged_result_file_is_counted(tmp_path):
    shutil.copytree(ASV, tmp_path / "asv")
    (tmp_path / "asv" / "ci-box" / "cccccccc-virtualenv-py3.12.json").write_text("{not json")
    frame, notes = read_asv(tmp_path / "asv")
    assert (frame["status"] == "ok").sum() == 8
    assert any("skipped 1 damaged asv result file" in n for n in notes)


def test_a_sweep_row_and_an_asv_row_of_one_configuration_share_the_label() -> None:
    """The report joins sweep and asv results by series: both must name a configuration alike."""
    from attnbench.config import Job, Options
    from attnbench.sweep import SweepSpec, expand
    from attnbench.sweep.worker import config_row

    frame, _ = read_asv(ASV)
    asv_row = frame[(frame["variant"] == "sab") & (frame["memory"] == 8) & (frame["top_k"] == 5)].iloc[0]
    spec = SweepSpec().replace(variants=("sab",), axes={"seq_len": (10,), "memory": (8,), "top_k": (5,)})
    (job,) = expand(spec)
    assert isinstance(job, Job) and job.options == Options()
    assert config_row(job)["label"] == asv_row["label"] == "sab[max_mem=8]"
