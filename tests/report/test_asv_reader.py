"""The asv results folder reader: asv 0.6's own format, checked against asv's loader."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from attnbench.errors import UsageError
from attnbench.report.asv_reader import NOT_RUN, column_of, is_asv_results, parse_param, read_asv

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


def _copy_result(folder, source: str, name: str, **changes) -> None:
    data = json.loads((folder / "ci-box" / source).read_text())
    data.update(changes)
    (folder / "ci-box" / name).write_text(json.dumps(data))


def test_the_inverse_score_asv_tracks_is_read_as_the_accuracy(tmp_path):
    shutil.copytree(ASV, tmp_path / "asv")
    for file in (tmp_path / "asv" / "ci-box").glob("*-virtualenv-*.json"):
        data = json.loads(file.read_text())
        entry = data["results"].pop("bench_variants.VariantSuite.track_score")
        entry[0] = [v if v is None or v != v else 1 / v for v in entry[0]]  # None (failed), NaN (not run) stay
        data["results"]["bench_variants.VariantSuite.track_inverse_score"] = entry
        file.write_text(json.dumps(data))
    assert column_of("bench_accuracy.Accuracy.track_inverse_score") == "score"
    frame, notes = read_asv(tmp_path / "asv")
    ok = frame[frame["status"] == "ok"].set_index(["variant", "seq_len"])
    assert ok.loc[("lstm", 200), "score"] == pytest.approx(0.55)
    assert ok.loc[("lstm", 200), "score_metric"] == "accuracy" and ok.loc[("lstm", 200), "higher_is_better"]
    assert not any("assumes it is" in n for n in notes)
    assert ok.loc[("dense", 100), "score"] == pytest.approx(0.965)


def test_one_commit_is_read_with_every_environment_of_it(tmp_path):
    shutil.copytree(ASV, tmp_path / "asv")
    # `-E existing` results of the newest commit beside the virtualenv ones, and an environment that
    # only ever ran the older commit: before, the newest per environment mixed the two commits
    _copy_result(
        tmp_path / "asv", "bbbbbbbb-virtualenv-py3.11.json", "bbbbbbbb-existing-py.json", env_name="existing-py"
    )
    _copy_result(
        tmp_path / "asv", "aaaaaaaa-virtualenv-py3.11.json", "aaaaaaaa-virtualenv-py3.12.json", env_name="py3.12"
    )
    frame, notes = read_asv(tmp_path / "asv")
    assert set(frame["git_commit"]) == {"bbbbbbbb22222222"}
    assert (frame["status"] == "ok").sum() == 16  # 8 configurations in each of two environments
    assert any("read commit bbbbbbbb (the newest commit of 2" in n and "existing-py" in n for n in notes)


def test_a_commit_is_chosen_by_a_prefix_of_its_hash(tmp_path):
    frame, notes = read_asv(ASV, commit="aaaa")
    ok = frame[frame["status"] == "ok"].set_index(["variant", "seq_len"])
    assert ok.loc[("lstm", 200), "step_time_s"] == pytest.approx(0.2)  # the older commit's (10x)
    assert set(frame["git_commit"]) == {"aaaaaaaa11111111"}
    assert any("read commit aaaaaaaa (asked for" in n for n in notes)
    with pytest.raises(UsageError, match="commit 'cccc' is not in the asv results"):
        read_asv(ASV, commit="cccc")
    shutil.copytree(ASV, tmp_path / "asv")
    _copy_result(tmp_path / "asv", "aaaaaaaa-virtualenv-py3.11.json", "aaaaaaaa-x.json", commit_hash="aaaaaaaa3333")
    with pytest.raises(UsageError, match="'aaaaaaaa' is ambiguous"):
        read_asv(tmp_path / "asv", commit="aaaaaaaa")


def test_the_default_is_the_newest_commit_on_the_configured_branch(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (repo / "asv.conf.json").write_text('{\n  // asv\n  "branches": ["main"], "results_dir": ".asv/results"\n}\n')
    git("add", "-A")
    git("commit", "-qm", "on main")
    on_main = git("rev-parse", "HEAD")
    git("checkout", "-qb", "feature")
    git("commit", "-qm", "on a feature branch", "--allow-empty")
    on_feature = git("rev-parse", "HEAD")
    results = repo / ".asv" / "results"
    shutil.copytree(ASV, results)
    for file in (results / "ci-box").glob("*-virtualenv-*.json"):
        file.unlink()
    # the feature branch's commit is newer, but not on main
    data = json.loads((ASV / "ci-box" / "aaaaaaaa-virtualenv-py3.11.json").read_text())
    for name, commit, date in (("m.json", on_main, 1), ("f.json", on_feature, 2)):
        (results / "ci-box" / name).write_text(json.dumps({**data, "commit_hash": commit, "date": date}))
    frame, notes = read_asv(results)
    assert set(frame["git_commit"]) == {on_main}
    assert any(f"read commit {on_main[:8]} (the newest commit on main of 2" in n for n in notes)
    assert set(read_asv(results, commit=on_feature[:10])[0]["git_commit"]) == {on_feature}


def test_points_asv_did_not_run_are_not_called_nonsense():
    frame, _ = read_asv(ASV)
    skipped = frame[frame["status"] == "skipped"]
    assert not skipped.empty and set(skipped["error"]) == {NOT_RUN}
    assert "make no sense" not in NOT_RUN and "-b" in NOT_RUN
