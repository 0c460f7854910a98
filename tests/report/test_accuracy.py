"""Accuracy over seeds in the report: means with intervals on the fronts and tables, the front on means
with 'not distinguishable' marked, learning curves, success rate and time to target (checked on the data
the figures are drawn from, not on pixels)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from attnbench.report import accuracy, build_report, plots
from attnbench.report.tables import load_table
from attnbench.results import ResultsDir

from .test_build import check_figures

# variant -> (step time, score by seed, validation score by lr); dense is better but noisier
SCORES = {
    "lstm": (1e-3, (0.50, 0.52, 0.54)),
    "dense": (4e-3, (0.55, 0.60, 0.65)),  # higher mean, interval overlapping lstm's: not distinguishable
    "sab": (8e-3, (0.97, 0.98, 0.99)),  # clearly better: distinguishable
}
LRS = {1e-3: 0.0, 1e-2: -0.3}  # lr 1e-2 validates worse (and tests better: must not be chosen)


def multi_seed_results(path: Path) -> Path:
    """Three variants on copy at one length, three seeds, two learning rates, with learning curves."""
    store = ResultsDir(path)
    for (variant, (step_time, scores)), (lr, shift) in itertools.product(SCORES.items(), LRS.items()):
        for seed, score in enumerate(scores):
            val = score + shift
            curve = [[k * 10, k * step_time * 10, val * k / 4] for k in range(1, 5)]
            reached = next((p for p in curve if p[2] >= 0.9), None)
            store.write(
                {
                    "point_id": f"{variant}-{lr}-{seed}",
                    "label": variant,
                    "variant": variant,
                    "task": "copy",
                    "task_params": json.dumps({"seq_len": 10}),
                    "seq_len": 30,
                    "batch": 4,
                    "hidden_size": 8,
                    "device": "cpu",
                    "dtype": "float32",
                    "seed": seed,
                    "lr": lr,
                    "target": 0.9,
                    "train_steps": 40,
                    "status": "ok",
                    "step_time_s": step_time,
                    "saved_bytes": 1e4,
                    "score": score - shift,  # the worse-validating lr tests better
                    "score_metric": "accuracy",
                    "higher_is_better": True,
                    "chance": 0.125,
                    "val_score": val,
                    "val_curve": json.dumps(curve),
                    "steps_to_target": reached[0] if reached else None,
                    "seconds_to_target": reached[1] if reached else None,
                }
            )
    return path


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> tuple[Path, dict[str, list]]:
    """The report of the multi-seed fixture, and the data each new figure was drawn from."""
    seen: dict[str, list] = {"front": [], "curves": []}
    fronts, curves = plots.mean_front_figure, plots.learning_curve_figure

    def front_spy(data, *args, **kwargs):
        seen["front"].append((data, kwargs))
        return fronts(data, *args, **kwargs)

    def curves_spy(data, *args, **kwargs):
        seen["curves"].append(data)
        return curves(data, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "mean_front_figure", front_spy)
    mp.setattr(plots, "learning_curve_figure", curves_spy)
    try:
        root = tmp_path_factory.mktemp("seeds")
        index = build_report([multi_seed_results(root / "results")], root / "report")
    finally:
        mp.undo()
    return index, seen


def test_fronts_are_drawn_from_means_with_error_bars_and_n(drawn):
    index, seen = drawn
    check_figures(index)
    score_fronts = [data for data, k in seen["front"] if k.get("y", "score_mean") == "score_mean"]
    assert score_fronts
    data = score_fronts[0]
    assert set(data["n"]) == {3} and len(data) == 3  # one row per configuration, lr chosen
    assert (data["yerr_low"] > 0).all() and (data["yerr_high"] > 0).all()
    assert (data["score_ci_low"] < data["score_mean"]).all() and (data["score_mean"] < data["score_ci_high"]).all()
    by = data.set_index("series")
    assert by.loc["dense", "score_mean"] == pytest.approx(0.60)  # the mean over seeds, at the lr chosen
    assert (by["lr"] == 1e-3).all()  # chosen on validation, though lr 1e-2 tests better
    assert by["on_front"].all()
    assert not by.loc["dense", "distinct"] and by.loc["sab", "distinct"]


def test_tables_show_interval_n_and_the_chosen_lr(drawn):
    index, _ = drawn
    summary = (index.parent / "summary.md").read_text()
    assert r"| 0.6 \[0.476, 0.724\] (n=3) |" in summary  # mean [Student's t 95% CI] (n), Markdown-escaped
    assert "not distinguishable" in summary
    assert "lr=0.001 chosen on validation among 2" in summary


def test_success_rate_and_time_to_target_fronts(drawn):
    _, seen = drawn
    ys = {k.get("y") for _, k in seen["front"]}
    assert {"success_rate", "seconds_to_target"} <= ys
    success = next(data for data, k in seen["front"] if k.get("y") == "success_rate").set_index("series")
    assert success.loc["sab", "success_rate"] == 1.0 and success.loc["lstm", "success_rate"] == 0.0


def test_learning_curves_have_a_band_across_seeds(drawn):
    _, seen = drawn
    (bands,) = seen["curves"]
    dense = bands[(bands["series"] == "dense") & (bands["lr"] == 1e-3)].sort_values("step")
    assert list(dense["n"]) == [3, 3, 3, 3]
    assert (dense["low"] < dense["high"]).all()  # the band across seeds
    assert dense["mean"].iloc[-1] == pytest.approx(0.60)
    assert list(dense["seconds"]) == pytest.approx([0.04, 0.08, 0.12, 0.16])


def test_old_single_seed_results_still_report(sweep_report):
    summary = (sweep_report.parent / "summary.md").read_text()
    assert "Accuracy over seeds" in summary and "(n=1)" in summary
    assert "single learning rate" in summary or "learning rate not recorded" in summary


def test_seed_table_of_the_stored_fixture_has_one_row_per_configuration():
    frame = load_table(Path(__file__).parent / "fixtures" / "sweep_small").frame
    agg = accuracy.seed_table(frame)
    assert not agg.empty and not agg.duplicated(["series", "seq_len"]).any()
    assert isinstance(agg, pd.DataFrame)


def test_fronts_draw_every_seed_beside_its_mean(tmp_path, monkeypatch):
    frame = load_table(multi_seed_results(tmp_path / "results")).frame
    points = accuracy.mean_front(accuracy.seed_table(frame), "step_time_s", True)
    drawn_figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn_figures.append(fig) or path)
    plots.mean_front_figure(points, "copy", "step_time_s", plots.palette(points["variant"]), tmp_path / "f.png")
    (fig,) = drawn_figures
    seeds = [c for ax in fig.axes for c in ax.collections if c.get_gid() == plots.SEEDS_GID]
    assert len(seeds) == 3 and all(len(c.get_offsets()) == 3 for c in seeds)  # 3 seeds of 3 configurations
    drawn_scores = sorted(float(y) for c in seeds for y in c.get_offsets()[:, 1])
    assert drawn_scores == pytest.approx(sorted(s for _, scores in SCORES.values() for s in scores))


def test_tables_list_every_seeds_score(drawn):
    index, _ = drawn
    summary = (index.parent / "summary.md").read_text()
    assert "seeds' scores" in summary and "Student's t" in summary
    assert "| 0.55, 0.6, 0.65 |" in summary  # dense's seeds, in seed order, at the lr chosen
    assert "| 0.97, 0.98, 0.99 |" in summary


def test_probability_of_improvement_over_lstm_and_profiles_are_reported(drawn):
    index, _ = drawn
    summary = (index.parent / "summary.md").read_text()
    assert "probability of improvement over lstm" in summary
    # every dense run beats every lstm run: P = 1, Newcombe's interval at 3 runs a side [0.50, 1]
    assert (
        r"| 30 | dense | 0.001 | lstm | 1.00 \[0.50, 1.00\] | 3 vs 3 | 0.55, 0.6, 0.65 | 0.5, 0.52, 0.54 |" in summary
    )
    assert "| 30 | lstm | 0.001 | lstm |" not in summary  # the baseline is not compared with itself
    assert "performance profiles" in summary and (index.parent / "figures" / "profile-copy.png").is_file()


def test_runs_of_two_train_steps_in_one_folder_are_two_configurations_in_every_view(tmp_path):
    """The seed table and the learning curves group exactly as aggregate does: runs that differ only in
    train_steps are two configurations, each of its own three seeds (not one of six)."""
    store = ResultsDir(tmp_path / "results")
    for steps, seed in itertools.product((40, 80), range(3)):
        curve = [[k * steps // 4, k * 0.01, 0.2 * k + seed / 100] for k in range(1, 5)]
        store.write(
            {
                "point_id": f"lstm-{steps}-{seed}", "label": "lstm", "variant": "lstm", "task": "copy",
                "task_params": json.dumps({"seq_len": 10}), "seq_len": 30, "seed": seed, "lr": 1e-3,
                "train_steps": steps, "target": 0.9, "status": "ok", "score": 0.5 + steps / 1000,
                "score_metric": "accuracy", "higher_is_better": True, "val_score": curve[-1][2],
                "val_curve": json.dumps(curve), "step_time_s": 1e-3,
            }
        )  # fmt: skip
    frame = load_table(tmp_path / "results").frame
    agg = accuracy.seed_table(frame)
    assert sorted(agg["series"]) == ["lstm (train_steps=40)", "lstm (train_steps=80)"]
    assert list(agg["n"]) == [3, 3]
    bands = accuracy.curve_bands(accuracy.curve_table(frame))
    assert set(bands["series"]) == set(agg["series"]) and (bands["n"] == 3).all()
    index = build_report([tmp_path / "results"], tmp_path / "report")
    summary = (index.parent / "summary.md").read_text().replace("\\_", "_")  # Markdown escapes the underscore
    assert "lstm (train_steps=40)" in summary and "lstm (train_steps=80)" in summary


def test_each_task_opens_with_a_headline_of_verdicts_against_the_plain_lstm(drawn):
    index, _ = drawn
    summary = (index.parent / "summary.md").read_text()
    task = summary[summary.index("## Task copy") :]
    assert task.index("### Headline") < task.index("### Status of every point")  # first in the task
    headline = task[task.index("### Headline") : task.index("### Status of every point")]
    # sab's interval lies above lstm's; dense's overlaps it (its mean is higher, but not separated at 3 seeds)
    assert "At T=30: better than lstm: sab; overlapping lstm: dense." in headline
    assert r"Reached the target (accuracy \>= 0.9) in half of its runs or more: sab at T=30." in headline
    rows = [line for line in headline.splitlines() if line.startswith("| 30 |")]
    assert len(rows) == 3 and all("lr=0.001 chosen on validation among 2" in r for r in rows)
    by = {r.split(" | ")[1]: r for r in rows}
    assert "| better |" in by["sab"] and "| overlaps |" in by["dense"] and "(the baseline)" in by["lstm"]
    assert r"0.6 \[0.476, 0.724\] (n=3)" in by["dense"] and "100% of 3" in by["sab"]


def test_a_headline_without_a_plain_lstm_or_a_success_says_so(tmp_path):
    from attnbench.results import load

    folder = multi_seed_results(tmp_path / "results")
    for path in (folder / "points").glob("lstm-*.json"):
        path.unlink()
    for path in (folder / "points").glob("sab-*.json"):
        path.unlink()
    assert set(load([folder])["variant"]) == {"dense"}
    index = build_report([folder], tmp_path / "report")
    summary = (index.parent / "summary.md").read_text()
    headline = summary[summary.index("### Headline") : summary.index("### Status of every point")]
    assert r"No configuration reached the target (accuracy \>= 0.9) in half of its runs or more" in headline
    assert "| – |" in headline  # against lstm: nothing to compare with
