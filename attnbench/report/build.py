"""Assemble the report: read the results, compute fronts and fits, draw the figures, write the files."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from attnbench.aggregate import default_target
from attnbench.errors import UsageError
from attnbench.report import accuracy, compare, curves, plots
from attnbench.report.frontier import grouped_pareto_mask
from attnbench.report.html import Document, FigureRef, Section, Table, write
from attnbench.report.scaling import ABOVE_TOLERANCE, ANALYTIC_TOLERANCE, declared_exponents, fit_exponents
from attnbench.report.tables import (
    COST_NAMES,
    axis_label,
    chosen_costs,
    format_value,
    grad_reach_table,
    load_table,
    score_of,
    status_counts,
    unit_of,
)
from attnbench.schema import STATUSES

FIGURES = "figures"
SCALING_BY = ("task", "series", "batch", "hidden_size", "device", "dtype")
SCALING_TEXT = (
    "Fitted: the least-squares slope of log(cost) against log(T) over the lengths each configuration was "
    "measured at. Expected: the asymptotic exponent the algorithm should have, as each variant declares it "
    "for its parameters (the table of declared exponents below; sab with an unbounded memory keeps T/k_att "
    "memories, so its attention work grows as T^2/k_att even though the linear LSTM-cell work dominates at "
    "short T). "
    "Lower-order terms pull a measured slope below the asymptotic one at short lengths, so a slope more "
    f"than {ABOVE_TOLERANCE} above the expected one is flagged (!), and for FLOPs the slope of the "
    f"variant's analytic count over the same lengths must match the counted slope within {ANALYTIC_TOLERANCE}. "
    "Process RSS has a large constant part and no expected exponent."
)


def _file_slug(text: str, hashed: bool = True) -> str:
    """A file-name part for ``text``; a short hash keeps names that are not already plain distinct."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()[:40] or "x"
    if not hashed or slug == str(text):
        return slug
    return f"{slug}-{hashlib.sha1(str(text).encode()).hexdigest()[:6]}"


def _fig(out: Path, name: str) -> tuple[Path, str]:
    return out / FIGURES / f"{name}.png", f"{FIGURES}/{name}.png"


def _overview(frame: pd.DataFrame, notes: list[str], sources: list[str]) -> list[Section]:
    counts = status_counts(frame)
    counts = counts.reindex(columns=[s for s in [*STATUSES, "unknown"] if s in counts.columns])
    table = Table(counts.reset_index().astype(str), "points per task and status")
    paragraphs = [f"Read {len(frame)} points from: {', '.join(sources)}."]
    sections = [Section("Overview", paragraphs, tables=[table])]
    if notes:
        sections.append(Section("Notices", list(notes), warning=True))
    return sections


def _front_table(frame: pd.DataFrame, cost: str) -> Table:
    metric, higher = score_of(frame)
    ok = frame[(frame["status"] == "ok") & frame["score"].notna() & pd.to_numeric(frame[cost]).gt(0)]
    front = ok[grouped_pareto_mask(ok, {cost: "min", "score": "max" if higher else "min"}, ["seq_len"])]
    front = front.sort_values(["seq_len", cost])
    rows = pd.DataFrame(
        {
            "T": front["seq_len"].map(lambda v: f"{int(v)}"),
            "configuration": front["series"],
            metric: front["score"].map(format_value),
            axis_label(cost): front[cost].map(lambda v: format_value(v, unit_of(cost))),
        }
    )
    return Table(rows, f"front: {metric} against {axis_label(cost)}")


def _pareto_section(task_frame: pd.DataFrame, task: str, costs: list[str], out: Path, colours: dict) -> Section:
    scored = task_frame[(task_frame["status"] == "ok") & task_frame["score"].notna()]
    section = Section("Pareto fronts")
    if (task_frame["status"] != "ok").all():
        section.warning = True
        section.paragraphs.append("No point of this task was measured (see the status above), so there is no front.")
        return section
    if scored.empty:
        section.warning = True
        section.paragraphs.append(
            "These results hold no accuracy (train_steps = 0, or the score is missing), so the fronts of accuracy "
            "against cost cannot be drawn. Run the sweep with train_steps > 0 to get them; scaling and gradient "
            "reach below do not need accuracy."
        )
        return section
    section.paragraphs.append(
        "Each panel is one sequence length. Solid points joined by the line are the Pareto front (no other point "
        "is both cheaper and better); faded points are dominated. Points that failed are listed in the panel."
    )
    if scored["seed"].nunique() > 1 or ("lr" in scored and scored["lr"].nunique() > 1):
        section.paragraphs.append(
            "These results hold several seeds or learning rates: each point here is one run. The fronts on the "
            "means over seeds, with their confidence intervals and the lr chosen on validation, are under "
            "'Accuracy over seeds' below."
        )
    slug = _file_slug(task)
    metric, _ = score_of(scored)
    for cost in costs:
        path, rel = _fig(out, f"pareto-{slug}-{_file_slug(cost, hashed=False)}")
        plots.pareto_figure(task_frame, task, cost, colours, path)
        caption = f"{task}: {metric} against {axis_label(cost)}"
        child = Section(f"{metric} against {COST_NAMES.get(cost, cost)}", figures=[FigureRef(rel, caption)])
        child.tables.append(_front_table(task_frame, cost))
        section.children.append(child)
    time = next((c for c in costs if c.endswith("time_s")), None)
    memory = next((c for c in costs if c.endswith("bytes")), None)
    if time and memory:
        path, rel = _fig(out, f"threeway-{slug}")
        plots.three_way_figure(task_frame, task, time, memory, colours, path)
        caption = f"{task}: {axis_label(time)} across, {metric} up, {axis_label(memory)} as marker size"
        text = "Solid points are on the front of all three objectives at once; faded points are dominated."
        section.children.append(Section("Three objectives at once", [text], figures=[FigureRef(rel, caption)]))
    return section


SEEDS_TEXT = (
    "Seeds are replicates: each configuration (everything but the seed) is one row, its test score the mean "
    "over its seeds with a 95% confidence interval of the mean (Student's t, scipy.stats.t: mean -+ "
    "t(0.975, n-1) s/sqrt(n), whose coverage holds at 3 to 10 seeds where a bootstrap's does not; not clipped "
    "to the metric's range, so few seeds far apart give a wide interval; none for a single seed) and n, the "
    "number of seeds, beside it; every seed's own score is listed beside the mean. Where a configuration was "
    "swept over several learning rates, the one with the best mean validation score is shown (never chosen "
    "on test). Success rate: the fraction of its runs (failed ones included) that reached the task's target; "
    "steps and seconds to target: medians over the runs that reached it."
)


def _has_scores(agg: pd.DataFrame) -> bool:
    """Whether a task's :func:`accuracy.seed_table` holds any score to aggregate."""
    return not agg.empty and not agg.get("score_n", pd.Series(0)).fillna(0).eq(0).all()


def _target(agg: pd.DataFrame, task: str) -> float | None:
    """The target the task's rows were scored against (the first recorded), else the task's declared one."""
    known = agg.get("target", pd.Series(dtype=float)).dropna()
    return float(known.iloc[0]) if len(known) else default_target(task)


def _seeds_section(
    task_frame: pd.DataFrame,
    agg: pd.DataFrame,
    task: str,
    costs: list[str],
    out: Path,
    colours: dict,
    series_colours: dict,
) -> Section:
    section = Section("Accuracy over seeds", [SEEDS_TEXT])
    if not _has_scores(agg):
        section.paragraphs.append("No accuracy in these results, so nothing to aggregate over seeds.")
        return section
    metric, higher = score_of(task_frame)
    if (agg["lr_note"] == "single learning rate").any() or (agg["lr_note"] == "learning rate not recorded").any():
        section.paragraphs.append(
            "Some configurations were measured at a single learning rate (or without it recorded): recurrent "
            "models succeed only in a narrow learning-rate window, so their comparison at one shared lr is not "
            "a fair one. Sweep several (lrs) to have the lr chosen on validation."
        )
    section.tables.append(Table(_seed_rows(agg, metric), f"{metric} over seeds, per configuration"))
    slug = _file_slug(task)
    for cost in costs:
        points = accuracy.mean_front(agg, cost, higher)
        if points.empty:
            continue
        path, rel = _fig(out, f"seeds-{slug}-{_file_slug(cost, hashed=False)}")
        plots.mean_front_figure(points, task, cost, colours, path, ylabel=f"mean {metric}")
        child = Section(
            f"mean {metric} against {COST_NAMES.get(cost, cost)}",
            ["Error bars: 95% confidence intervals of the mean over seeds (Student's t); small dots beside each "
             "mean: its seeds' own scores; hollow: a front point whose interval overlaps that of the cheaper front "
             "point it displaces (not distinguishable)."],
            figures=[FigureRef(rel, f"{task}: mean {metric} (Student's t 95% CI, dots: seeds) against "
                                    f"{axis_label(cost)}")],
        )  # fmt: skip
        child.tables.append(_mean_front_table(points, metric, cost))
        for y, label, better in (
            ("success_rate", "success rate", True),
            ("seconds_to_target", "seconds to target", False),
        ):
            other = accuracy.mean_front(agg, cost, better, y=y)
            if other.empty:
                continue
            path, rel = _fig(out, f"{_file_slug(y, hashed=False)}-{slug}-{_file_slug(cost, hashed=False)}")
            plots.mean_front_figure(other, task, cost, colours, path, y=y, ylabel=label)
            child.figures.append(FigureRef(rel, f"{task}: {label} against {axis_label(cost)}"))
        section.children.append(child)
    section.children.extend(_compare_sections(agg, task, metric, higher, out, series_colours))
    bands = accuracy.curve_bands(accuracy.curve_table(task_frame))
    if not bands.empty:
        path, rel = _fig(out, f"curves-{slug}")
        plots.learning_curve_figure(bands, task, series_colours, path)
        section.children.append(
            Section(
                "Learning curves",
                ["Validation score against training seconds (validation time left out): what attention buys per "
                 "second of training. Line: mean over seeds; band: their range."],
                figures=[FigureRef(rel, f"{task}: validation score against training time")],
            )
        )  # fmt: skip
    return section


HEADLINE_TEXT = (
    "What this task's results say, in one table: each configuration at the lr chosen on validation, its mean "
    "test score with the 95% interval of the mean over seeds (Student's t) and n, and against lstm: whether "
    "that interval lies entirely on the better side of the plain lstm's at the same setting (better), entirely "
    "on the worse side (worse), or overlaps it (overlaps: not separated at this many seeds). Success rate: the "
    "share of its runs that reached the task's target; steps and seconds to target: medians over those runs. "
    "The sections below give every seed, the costs and the curves behind it."
)


def _headline_section(task_frame: pd.DataFrame, agg: pd.DataFrame, task: str) -> Section | None:
    """The task's results in one table and a few generated sentences (the README quotes this section)."""
    if not _has_scores(agg):
        return None
    metric, higher = score_of(task_frame)
    verdicts = compare.separation_table(agg, higher)
    against = pd.Series("–", index=agg.index, dtype=object)
    plain = compare._plain_lstm(agg)
    against[plain] = "(the baseline)"
    for _, v in verdicts.iterrows():
        against[v["index"]] = v["verdict"]
    rows = _seed_rows(agg, metric)
    rows.insert(4, "against lstm", against.reindex(rows.index))
    rows = rows.drop(columns=["seeds' scores", "std"])
    target = _target(agg, task)
    paragraphs = [HEADLINE_TEXT]
    for length, here in verdicts.groupby("seq_len", dropna=False, sort=True):
        where = "" if length is None or pd.isna(length) else f"At T={int(length)}: "
        parts = []
        for verdict in ("better", "overlaps", "worse", "no interval"):
            names = sorted(here.loc[here["verdict"] == verdict, "series"])
            if names:
                parts.append(f"{verdict} than lstm: {', '.join(names)}" if verdict != "overlaps"
                             else f"overlapping lstm: {', '.join(names)}")  # fmt: skip
        paragraphs.append(where + "; ".join(parts) + ".")
    rate = pd.to_numeric(agg.get("success_rate", pd.Series(math.nan, index=agg.index)), errors="coerce")
    half = agg[rate >= 0.5]
    goal = "no target declared" if target is None else f"{metric} {'>=' if higher else '<='} {target:g}"
    if target is None:
        paragraphs.append("The task declares no target, so no success rate.")
    elif half.empty:
        paragraphs.append(f"No configuration reached the target ({goal}) in half of its runs or more at this budget.")
    else:
        names = [f"{row['series']} at T={int(row['seq_len'])}" if not pd.isna(row.get("seq_len")) else row["series"]
                 for _, row in half.sort_values(["seq_len", "series"]).iterrows()]  # fmt: skip
        paragraphs.append(f"Reached the target ({goal}) in half of its runs or more: {', '.join(names)}.")
    return Section("Headline", paragraphs, tables=[Table(rows, f"{task}: the headline, lr chosen on validation")])


IMPROVEMENT_TEXT = (
    "As rliable compares runs (Agarwal et al. 2021, 'Deep reinforcement learning at the edge of the statistical "
    "precipice'): per configuration, at the lr chosen on validation, the probability that one of its runs beats "
    "one of the plain lstm's at the same length and setting, P(X > Y) + 0.5 P(X = Y) over every pair of runs "
    "(the Mann-Whitney U over n m; 0.5: no better, no worse). The interval is Newcombe's score interval (2006, "
    "method 5) rather than rliable's percentile bootstrap, which at a few runs a side collapses to [1, 1] when "
    "every run wins; with 3 runs a side even a clean sweep only bounds it below by 0.50, so few runs tell little "
    "and the interval says so. Failed runs (no score) are left out."
)
PROFILE_TEXT = (
    "The share of each configuration's runs whose score is better than each threshold (rliable's performance "
    "profile): where runs either solve a task or fail it, a mean halfway hides the split, and here a profile "
    "that drops in steps shows how many runs did which."
)


def _compare_sections(
    agg: pd.DataFrame, task: str, metric: str, higher: bool, out: Path, colours: dict
) -> list[Section]:
    """The probability of improvement over the plain lstm (table) and the performance profiles (figure)."""
    sections = []
    table = compare.improvement_table(agg, higher)
    child = Section(f"probability of improvement over {compare.BASELINE}", [IMPROVEMENT_TEXT])
    if table.empty:
        child.paragraphs.append(
            f"No plain {compare.BASELINE} in these results at a matching setting: nothing to compare with."
        )
    else:
        child.tables.append(Table(_improvement_rows(table), f"probability of improvement over {compare.BASELINE}"))
    sections.append(child)
    profiles = compare.profile_table(agg, higher)
    if not profiles.empty and (profiles["n"] > 1).any():
        target = _target(agg, task)
        path, rel = _fig(out, f"profile-{_file_slug(task)}")
        plots.performance_profile_figure(profiles, task, colours, path, metric=metric, higher=higher, target=target)
        caption = f"{task}: share of runs with {metric} better than each threshold"
        sections.append(Section("performance profiles", [PROFILE_TEXT], figures=[FigureRef(rel, caption)]))
    return sections


def _improvement_rows(table: pd.DataFrame) -> pd.DataFrame:
    def scores(values: list[float]) -> str:
        return ", ".join(f"{v:.3g}" for v in values) or "–"

    return pd.DataFrame(
        {
            "T": table["seq_len"].map(lambda v: "–" if v is None or pd.isna(v) else f"{int(v)}"),
            "configuration": table["series"],
            "lr": table["lr"].map(lambda v: "–" if v is None or pd.isna(v) else f"{v:g}"),
            "against": table["against"],
            "P(run beats lstm's) [95% CI]": [
                "–" if pd.isna(p) else f"{p:.2f} [{lo:.2f}, {hi:.2f}]"
                for p, lo, hi in zip(table["p"], table["low"], table["high"])
            ],
            "runs": [f"{int(n)} vs {int(m)}" for n, m in zip(table["n"], table["m"])],
            "seeds' scores": table["scores"].map(scores),
            "lstm seeds' scores": table["baseline_scores"].map(scores),
        }
    ).sort_values(["T", "configuration"])


def _seed_scores(agg: pd.DataFrame) -> list[str]:
    """Each configuration's seeds' scores, in seed order: ``0.12, 0.13, 0.31``."""
    return [", ".join(f"{v:.3g}" for v in compare.run_scores(row)) or "–" for _, row in agg.iterrows()]


def _seed_rows(agg: pd.DataFrame, metric: str) -> pd.DataFrame:
    def num(v: object, digits: str = ".3g") -> str:
        return "–" if v is None or pd.isna(v) else format(float(v), digits)

    return pd.DataFrame(
        {
            "T": agg["seq_len"].map(lambda v: "–" if v is None or pd.isna(v) else f"{int(v)}"),
            "configuration": agg["series"],
            "lr": [f"{lr:g} ({note})" if lr is not None and not pd.isna(lr) and "chosen" not in note else note
                   for lr, note in zip(agg["lr"] if "lr" in agg else [None] * len(agg), agg["lr_note"])],
            f"{metric} mean [95% CI, Student's t] (n)": [
                accuracy.interval_text(m, lo, hi, n)
                for m, lo, hi, n in zip(agg["score_mean"], agg["score_ci_low"], agg["score_ci_high"], agg["n"])
            ],
            "seeds' scores": _seed_scores(agg),
            "std": agg["score_std"].map(num),
            "success rate": [f"{r:.0%} of {int(n)}" if not pd.isna(r) else "–"
                             for r, n in zip(agg["success_rate"], agg["n_runs"])],
            "steps to target": agg.get("steps_to_target", pd.Series(math.nan, index=agg.index)).map(num),
            "seconds to target": agg.get("seconds_to_target", pd.Series(math.nan, index=agg.index)).map(num),
        }
    ).sort_values(["T", "configuration"])  # fmt: skip


def _mean_front_table(points: pd.DataFrame, metric: str, cost: str) -> Table:
    front = points[points["on_front"]].sort_values(["seq_len", cost])
    rows = pd.DataFrame(
        {
            "T": front["seq_len"].map(lambda v: "–" if pd.isna(v) else f"{int(v)}"),
            "configuration": front["series"],
            f"mean {metric} [95% CI, Student's t] (n)": [
                accuracy.interval_text(m, lo, hi, n)
                for m, lo, hi, n in zip(front["score_mean"], front["score_ci_low"], front["score_ci_high"], front["n"])
            ],
            "seeds' scores": _seed_scores(front),
            axis_label(cost): front[cost].map(lambda v: format_value(v, unit_of(cost))),
            "distinguishable": front["distinct"].map(lambda d: "yes" if d else "not distinguishable"),
        }
    )
    return Table(rows, f"front of the means: {metric} against {axis_label(cost)}")


def _scaling_section(task_frame: pd.DataFrame, task: str, costs: list[str], out: Path, colours: dict) -> Section:
    section = Section("Scaling with sequence length", [SCALING_TEXT])
    fits = fit_exponents(task_frame, costs, by=SCALING_BY)
    if not costs or task_frame[task_frame["status"] == "ok"].empty:
        section.paragraphs.append("No measured costs to fit.")
        return section
    path, rel = _fig(out, f"scaling-{_file_slug(task)}")
    curves.scaling_figure(task_frame, fits, task, costs, colours, path)
    section.figures.append(FigureRef(rel, f"{task}: each cost against sequence length, log-log"))

    def num(v: object) -> str:
        return "–" if pd.isna(v) else f"{v:.2f}"

    rows = pd.DataFrame(
        {
            "configuration": fits["series"],
            "cost": fits["cost"].map(axis_label),
            "T": [f"{int(a)}–{int(b)} ({n})" for a, b, n in zip(fits["seq_min"], fits["seq_max"], fits["n"])],
            "fitted": fits["fitted"].map(num),
            "analytic": fits["analytic"].map(num),
            "expected": fits["declared"].map(num),
            "verdict": fits["verdict"],
        }
    )
    section.tables.append(Table(rows, "fitted exponents (T: range of lengths and how many)"))
    return section


def _reach_section(reach: pd.DataFrame, task: str, out: Path, colours: dict) -> Section:
    section = Section("Gradient reach")
    data = reach[reach["task"] == task]
    if data.empty:
        section.paragraphs.append("No gradient-reach measurements in these results for this task.")
        return section
    section.paragraphs.append(
        "Norm of the gradient of the last step's loss with respect to the hidden state d steps earlier (mean over "
        "the batch). A flat line means the past still receives gradient; a steep fall means it does not."
    )
    path, rel = _fig(out, f"reach-{_file_slug(task)}")
    curves.grad_reach_figure(reach, task, colours, path)
    section.figures.append(FigureRef(rel, f"{task}: gradient norm against distance"))
    return section


def _status_section(task_frame: pd.DataFrame, task: str, out: Path) -> Section:
    section = Section("Status of every point")
    shown = task_frame[task_frame["status"] != "skipped"]
    if not shown.empty:
        path, rel = _fig(out, f"status-{_file_slug(task)}")
        plots.status_figure(task_frame, task, path)
        section.figures.append(FigureRef(rel, f"{task}: status by configuration and sequence length"))
    not_ok = task_frame[task_frame["status"] != "ok"].sort_values(["status", "series", "seq_len"])
    failed, skipped = not_ok[not_ok["status"] != "skipped"], not_ok[not_ok["status"] == "skipped"]
    if failed.empty:
        section.paragraphs.append("Every point that was run was measured (no oom, error or timeout).")
    else:
        section.tables.append(Table(_reasons(failed), "points that failed (oom, error, timeout)"))
    if not skipped.empty:
        section.paragraphs.append(f"{len(skipped)} point(s) not run (the reason of each is listed) are not drawn.")
        section.tables.append(Table(_reasons(skipped), "points not run", collapsed=True))
    return section


def _reasons(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "configuration": rows["series"],
            "T": rows["seq_len"].map(lambda v: "–" if pd.isna(v) else f"{int(v)}"),
            "status": rows["status"],
            "reason": rows["error"].map(lambda e: "" if e is None or pd.isna(e) else str(e)[:300]),
        }
    )


def _declared_section() -> Section:
    rows = declared_exponents()
    text = "The exponents each installed variant declares (RecurrentVariant.scaling_exponents); '?' if none."
    return Section("Expected exponents", [text], tables=[Table(rows.astype(str))])


def build_report(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    title: str | None = None,
    command: str | None = None,
    commit: str | None = None,
) -> Path:
    """Read results directories and asv results folders, write the report; returns its index.html.

    Writes ``index.html``, ``summary.md`` and ``figures/*.png`` into ``out_dir`` (earlier figures there
    are removed). ``command`` is the command line that regenerates the report, shown at its top.
    ``commit`` chooses the commit read from asv results folders (default: the newest on the branch).
    Raises :class:`~attnbench.errors.UsageError` for a bad path or no rows.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{str(out)!r} exists and is not a folder; give -o a folder for the report")
    table = load_table(paths, commit)
    frame = table.frame
    for old in (out / FIGURES).glob("*.png"):
        old.unlink()
    shown = frame[frame["status"] != "skipped"]
    variant_colours = plots.palette(shown["variant"])
    reach = grad_reach_table(frame)
    doc = Document(
        title or "attnbench report",
        [
            "Accuracy against cost (Pareto fronts), how each cost grows with sequence length, and how far back "
            "gradient reaches, for every variant measured. Made by 'attnbench report' from stored results "
            "(it reads them and never measures).",
            f"Regenerate with: {command or 'attnbench report PATH... -o FOLDER'}",
        ],
        _overview(frame, table.notes, table.sources),
    )
    for task in sorted(frame["task"].unique()):
        task_frame = frame[frame["task"] == task]
        costs = chosen_costs(task_frame)
        series_colours = plots.palette(task_frame[task_frame["status"] != "skipped"]["series"])
        with plots.theme():
            agg = accuracy.seed_table(task_frame[task_frame["status"] != "skipped"])  # the seeds' view, once
            headline = _headline_section(task_frame, agg, task)
            children = [
                *([headline] if headline else []),
                _status_section(task_frame, task, out),
                _pareto_section(task_frame, task, costs, out, variant_colours),
                _seeds_section(task_frame, agg, task, costs, out, variant_colours, series_colours),
                _scaling_section(task_frame, task, costs, out, series_colours),
                _reach_section(reach, task, out, series_colours),
            ]
        doc.sections.append(Section(f"Task {task}", children=children))
    doc.sections.append(_declared_section())
    return write(doc, out)


__all__ = ["build_report"]
