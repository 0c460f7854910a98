"""Figures of the report, drawn with seaborn on matplotlib's Agg canvas (no display, no pyplot state).

Each function takes the tidy table (already read and normalised), draws one figure and writes it as a
PNG. The logic they show (fronts, fits) comes from :mod:`~attnbench.report.frontier` and
:mod:`~attnbench.report.scaling`; nothing here decides what is on a front or what an exponent is.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import offset_copy

from attnbench.report.frontier import pareto_mask
from attnbench.report.tables import axis_label, format_value, score_of, unit_of

STATUS_COLORS = {
    "ok": "#4c9a2a",
    "oom": "#e08214",
    "error": "#d7301f",
    "timeout": "#8856a7",
    "diverged": "#a6611a",
    "skipped": "#bdbdbd",
    "unknown": "#969696",
}
FAILED = ("oom", "error", "timeout", "unknown")
THEME = {"style": "whitegrid", "context": "notebook", "font_scale": 0.9}
LOG_SPAN = 20.0  # a cost axis whose values span more than this factor is drawn on a log scale


def safe_text(text: object) -> str:
    """Text matplotlib draws literally: ``$`` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def palette(names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """One stable colour per name (sorted), shared by every figure of a report."""
    names = sorted(set(names))
    colours = sns.color_palette("tab10" if len(names) <= 10 else "husl", max(len(names), 1))
    return dict(zip(names, colours))


def theme() -> contextlib.AbstractContextManager:
    """The report's seaborn look as a matplotlib rc context (the caller's global style is left alone)."""
    rc = {**sns.axes_style(THEME["style"]), **sns.plotting_context(THEME["context"], font_scale=THEME["font_scale"])}
    return matplotlib.rc_context(rc)


def _figure(n_panels: int, ncols: int = 3, width: float = 4.6, height: float = 3.6) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG (no software/version metadata, so regenerated files only differ by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


TICK_UNITS = {"s": "s", "bytes": "B", "FLOP": "", "J": "J", "W": "W"}  # FLOP ticks read "20 M" (unit on the axis)


def format_axis(ax, axis: str, column: str, log: bool | None = None, values: pd.Series | None = None) -> None:  # noqa: ANN001
    """Ticks with engineering prefixes and the column's unit ("3 ms", "2 MB"); log scale when asked or
    when ``values`` span more than :data:`LOG_SPAN`."""
    span = 1.0
    if values is not None:
        v = pd.to_numeric(values, errors="coerce")
        v = v[v > 0]
        span = float(v.max() / v.min()) if len(v) else 1.0
    if log is None:
        log = span > LOG_SPAN
    target = ax.xaxis if axis == "x" else ax.yaxis
    if log:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        decades = np.log10(max(span, 1.0))
        subs = (1.0, 2.0, 5.0) if decades < 1.5 else (1.0, 3.0) if decades < 2.5 else (1.0,)
        target.set_major_locator(LogLocator(base=10, subs=subs))
        target.set_minor_formatter(NullFormatter())
    else:
        target.set_major_locator(MaxNLocator(4))
    unit = unit_of(column)
    if unit in TICK_UNITS:
        target.set_major_formatter(EngFormatter(unit=TICK_UNITS[unit], places=None, sep=" "))


def _legend(
    fig: Figure, colours: dict[str, tuple], title: str, extra: Sequence[Line2D] = (), shown: Sequence[str] | None = None
) -> None:
    """One legend for the whole figure, outside the axes on the right (it never covers data)."""
    names = [n for n in colours if shown is None or n in set(shown)]
    handles = [Line2D([], [], marker="o", ls="", color=colours[n], label=safe_text(n)) for n in names]
    fig.legend(handles=[*handles, *extra], title=title, loc="outside right upper", frameon=False)


def _failed_note(ax, failed: pd.DataFrame) -> None:  # noqa: ANN001
    if failed.empty:
        return
    lines = [f"{safe_text(r.series)}: {r.status}" for r in failed.itertuples()]
    text = "not measured:\n" + "\n".join(lines[:6]) + (f"\n... {len(lines) - 6} more" if len(lines) > 6 else "")
    x, y = _emptiest_corner(ax)
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha="right" if x > 0.5 else "left",
        va="top" if y > 0.5 else "bottom",
        fontsize=7,
        color=STATUS_COLORS["error"],
        bbox={"boxstyle": "round", "fc": "white", "ec": STATUS_COLORS["error"], "alpha": 0.9},
    )


def wrap_label(text: str, width: int = 22) -> str:
    """A long configuration name broken after commas into lines of about ``width`` characters."""
    lines, line = [], ""
    for part in str(text).split(","):
        piece = part if not line else "," + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ",")
            line = part
        else:
            line += piece
    return "\n".join([*lines, line])


def _label_points(ax, xs: pd.Series, ys: pd.Series, labels: pd.Series) -> None:  # noqa: ANN001
    """Small labels beside points (one label for points that coincide), turned inwards near the edges."""
    ax.autoscale_view()
    to_axes = ax.transData + ax.transAxes.inverted()
    merged: dict[tuple[float, float], list[str]] = {}
    for x, y, text in zip(xs, ys, labels):
        merged.setdefault((float(x), float(y)), []).append(str(text))
    for k, ((x, y), names) in enumerate(merged.items()):
        fx, fy = to_axes.transform((x, y))
        dx, ha = (-6, "right") if fx > 0.5 else (6, "left")
        dy, va = (-6, "top") if fy > 0.8 or (k % 2 and fy > 0.2) else (6, "bottom")
        text = "\n".join(wrap_label(safe_text(n)) for n in names)
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, ha=ha, va=va)


def _emptiest_corner(ax) -> tuple[float, float]:  # noqa: ANN001
    """The corner of the axes (in axes fractions) with the fewest data points near it."""
    points = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    corners = [(0.98, 0.02), (0.02, 0.02), (0.98, 0.98), (0.02, 0.98)]
    if not points:
        return corners[0]
    ax.autoscale_view()
    xy = ax.transAxes.inverted().transform(ax.transData.transform(np.vstack(points)))
    crowd = [int((np.abs(xy - c) < 0.45).all(axis=1).sum()) for c in corners]
    return corners[int(np.argmin(crowd))]


def status_figure(frame: pd.DataFrame, task: str, path: Path) -> Path:
    """Grid of configurations (rows) by sequence length (columns), each cell coloured by status."""
    data = frame[(frame["task"] == task) & (frame["status"] != "skipped")]
    grid = data.groupby(["series", "seq_len"])["status"].agg(_worst).unstack()
    fig = Figure(figsize=(1.2 * len(grid.columns) + 3.5, 0.42 * len(grid) + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    codes = {s: i for i, s in enumerate(STATUS_COLORS)}
    matrix = grid.map(lambda s: codes.get(s, np.nan) if isinstance(s, str) else np.nan).to_numpy(dtype=float)
    from matplotlib.colors import ListedColormap

    ax.imshow(
        matrix, cmap=ListedColormap(list(STATUS_COLORS.values())), vmin=-0.5, vmax=len(codes) - 0.5, aspect="auto"
    )
    for (i, j), status in np.ndenumerate(grid.to_numpy(dtype=object)):
        if isinstance(status, str):
            ax.text(j, i, status, ha="center", va="center", fontsize=8, color="white" if status != "skipped" else "k")
    ax.set_xticks(range(len(grid.columns)), [f"{int(c)}" for c in grid.columns])
    ax.set_yticks(range(len(grid)), [safe_text(s) for s in grid.index])
    ax.set_xlabel("sequence length T (steps)")
    ax.set_title(f"{safe_text(task)}: status of every point", loc="left")
    ax.grid(False)
    return save(fig, path)


def _worst(statuses: pd.Series) -> str:
    order = ["error", "timeout", "oom", "diverged", "unknown", "ok", "skipped"]
    present = set(statuses)
    return next(s for s in [*order, *sorted(present)] if s in present)


def pareto_figure(
    frame: pd.DataFrame, task: str, cost: str, colours: dict[str, tuple], path: Path, label_front: bool = True
) -> Path:
    """Score against ``cost`` per sequence length; the front joined, dominated points faded."""
    data = frame[frame["task"] == task]
    lengths = sorted(data["seq_len"].dropna().unique())
    fig, axes = _figure(len(lengths))
    metric, higher = score_of(data)
    for ax, length in zip(axes, lengths):
        here = data[data["seq_len"] == length]
        ok = here[(here["status"] == "ok") & here["score"].notna() & pd.to_numeric(here[cost]).gt(0)]
        front = pareto_mask(ok, {cost: "min", "score": "max" if higher else "min"})
        dominated, best = ok[~front], ok[front].sort_values(cost)
        for part, style in ((dominated, {"alpha": 0.3, "s": 40}), (best, {"s": 70, "ec": "k"})):
            if len(part):
                sns.scatterplot(data=part, x=cost, y="score", hue="variant", palette=colours, ax=ax, **style)
        ax.plot(best[cost], best["score"], drawstyle="steps-post", color="0.25", lw=1.2, zorder=1)
        chance = here["chance"].dropna()
        if len(chance):
            ax.axhline(chance.iloc[0], ls=":", color="0.5", lw=1)
        format_axis(ax, "x", cost, values=ok[cost])
        ax.margins(0.08)
        if label_front:
            _label_points(ax, best[cost], best["score"], best["series"])
        _failed_note(ax, here[here["status"].isin(FAILED)])
        if ax.get_legend():
            ax.get_legend().remove()
        ax.set(
            title=f"T = {int(length)}",
            xlabel=axis_label(cost),
            ylabel=f"{metric} ({'higher' if higher else 'lower'} is better)",
        )
    extra = [
        Line2D([], [], color="0.25", drawstyle="steps-post", label="Pareto front"),
        Line2D([], [], ls=":", color="0.5", label="chance"),
    ]
    _legend(fig, colours, "variant", extra, shown=data[data["status"] == "ok"]["variant"].unique())
    fig.suptitle(f"{safe_text(task)}: {metric} against {axis_label(cost)}", x=0.01, ha="left")
    return save(fig, path)


def three_way_figure(
    frame: pd.DataFrame, task: str, time: str, memory: str, colours: dict[str, tuple], path: Path
) -> Path:
    """Time across, score up, memory as marker size; points on the three-way front drawn solid."""
    data = frame[(frame["task"] == task) & (frame["status"] == "ok")]
    data = data[data["score"].notna() & pd.to_numeric(data[time]).gt(0) & pd.to_numeric(data[memory]).gt(0)]
    lengths = sorted(data["seq_len"].unique())
    fig, axes = _figure(len(lengths))
    metric, higher = score_of(data)
    sizes = (30, 400)
    lo, hi = data[memory].min(), data[memory].max()
    for ax, length in zip(axes, lengths):
        here = data[data["seq_len"] == length].copy()
        here["front"] = pareto_mask(here, {time: "min", "score": "max" if higher else "min", memory: "min"})
        for on_front, alpha in ((False, 0.3), (True, 0.9)):
            part = here[here["front"] == on_front]
            if part.empty:
                continue
            sns.scatterplot(
                data=part,
                x=time,
                y="score",
                hue="variant",
                size=memory,
                sizes=sizes,
                size_norm=(lo, hi),
                palette=colours,
                alpha=alpha,
                ec="k" if on_front else "none",
                ax=ax,
                legend=False,
            )
        format_axis(ax, "x", time, values=data[time])
        ax.margins(0.1)
        ax.set(
            title=f"T = {int(length)}",
            xlabel=axis_label(time),
            ylabel=f"{metric} ({'higher' if higher else 'lower'} is better)",
        )
    sample = sorted({lo, hi, float(np.sqrt(lo * hi))})
    size_handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color="0.6",
            label=format_value(v, unit_of(memory)),
            markersize=np.sqrt(np.interp(v, (lo, hi), sizes) if hi > lo else sizes[0]),
        )
        for v in sample
    ]
    title = f"variant; marker size:\n{axis_label(memory)}"
    _legend(fig, colours, title, size_handles, shown=data["variant"].unique())
    fig.suptitle(
        f"{safe_text(task)}: time, score and memory together (solid: on the three-way front)", x=0.01, ha="left"
    )
    return save(fig, path)


def mean_front_figure(
    points: pd.DataFrame,
    task: str,
    cost: str,
    colours: dict[str, tuple],
    path: Path,
    *,
    y: str = "score_mean",
    ylabel: str = "mean score",
) -> Path:
    """Per length, ``y`` against ``cost`` with its confidence interval as an error bar (``yerr_low``/
    ``yerr_high``, as :func:`attnbench.report.accuracy.seed_table` gives them), ``n`` beside each
    point and, for the mean score, each seed's score (``score_values``) as a small dot just left of its
    mean (:func:`seed_points`); front points (``on_front``) solid and joined, those not distinguishable
    from the point they displace (``distinct`` False) hollow. What is on the front is decided in
    ``report.accuracy``."""
    lengths = sorted(points["seq_len"].dropna().unique()) or [math.nan]
    fig, axes = _figure(len(lengths))
    for ax, length in zip(axes, lengths):
        here = points[points["seq_len"] == length] if not pd.isna(length) else points
        for _, row in here.iterrows():
            colour = colours.get(row["variant"], "0.4")
            front = bool(row.get("on_front", False))
            hollow = front and not bool(row.get("distinct", True))
            yerr = [[row.get("yerr_low", 0.0)], [row.get("yerr_high", 0.0)]] if y == "score_mean" else None
            ax.errorbar(
                [row[cost]],
                [row[y]],
                yerr=yerr,
                fmt="o",
                color=colour,
                mfc="white" if hollow else colour,
                mec="k" if front else colour,
                alpha=1.0 if front else 0.35,
                ms=8 if front else 6,
                capsize=3,
            )
            ax.annotate(f"n={int(row['n'])}", (row[cost], row[y]), xytext=(5, -10), textcoords="offset points",
                        fontsize=7, color="0.3")  # fmt: skip
            if y == "score_mean":
                seed_points(ax, row[cost], _scores(row), colour)
        best = here[here.get("on_front", pd.Series(False, index=here.index)).astype(bool)].sort_values(cost)
        ax.plot(best[cost], best[y], drawstyle="steps-post", color="0.25", lw=1.2, zorder=1)
        format_axis(ax, "x", cost, values=here[cost])
        ax.margins(0.08)
        title = f"T = {int(length)}" if not pd.isna(length) else "all lengths"
        ax.set(title=title, xlabel=axis_label(cost), ylabel=ylabel)
    extra = [
        Line2D([], [], color="0.25", drawstyle="steps-post", label="front of the means"),
        Line2D([], [], marker="o", ls="", mfc="white", mec="k", color="k", label="not distinguishable"),
    ]
    if y == "score_mean":
        extra.append(Line2D([], [], marker=".", ls="", color="0.3", label="one seed's score"))
    _legend(fig, colours, "variant", extra, shown=points["variant"].unique())
    bars = ", bars: 95% t CI" if y == "score_mean" else ""
    fig.suptitle(f"{safe_text(task)}: {ylabel}{bars}", x=0.01, ha="left")
    return save(fig, path)


SEEDS_GID = "seeds"  # the gid of the collections of per-seed points, one per configuration


def _scores(row: pd.Series) -> list[float]:
    from attnbench.report.compare import run_scores

    return run_scores(row)


def seed_points(ax, x: float, scores: Sequence[float], colour: object, dx: float = -7.0):  # noqa: ANN001, ANN201
    """Each seed's score as a small dot ``dx`` points beside ``x`` (left of the mean and its error
    bar, whatever the axis scale); the collection has gid :data:`SEEDS_GID`. None without scores."""
    if not len(scores):
        return None
    shifted = offset_copy(ax.transData, fig=ax.figure, x=dx, y=0, units="points")
    return ax.scatter([x] * len(scores), scores, s=14, color=colour, alpha=0.75, lw=0, zorder=3,
                      transform=shifted, gid=SEEDS_GID)  # fmt: skip


def performance_profile_figure(
    profiles: pd.DataFrame,
    task: str,
    colours: dict[str, tuple],
    path: Path,
    *,
    metric: str = "score",
    higher: bool = True,
    target: float | None = None,
) -> Path:
    """Per length, the share of a configuration's runs better than each threshold (a step line per
    configuration, from :func:`attnbench.report.compare.profile_table`), with the task's target marked."""
    lengths = sorted(profiles["seq_len"].dropna().unique()) or [math.nan]
    fig, axes = _figure(len(lengths))
    for ax, length in zip(axes, lengths):
        here = profiles[profiles["seq_len"] == length] if not pd.isna(length) else profiles
        for series, line in here.groupby("series", sort=True):
            line = line.sort_values("tau")
            n = int(line["n"].iloc[0])
            ax.step(line["tau"], line["share"], where="post", color=colours.get(series, "0.4"), lw=1.5,
                    label=safe_text(f"{series} ({n} runs)"))  # fmt: skip
        if target is not None and not pd.isna(target):
            ax.axvline(target, ls=":", color="0.5", lw=1, label="target")
        ax.set_ylim(-0.03, 1.03)
        ax.set(title=f"T = {int(length)}" if not pd.isna(length) else "", ylabel="share of runs",
               xlabel=f"{metric} threshold τ ({'runs above' if higher else 'runs below'} it)")  # fmt: skip
        ax.legend(fontsize=7)
    fig.suptitle(f"{safe_text(task)}: performance profiles", x=0.01, ha="left")
    return save(fig, path)


def learning_curve_figure(bands: pd.DataFrame, task: str, colours: dict[str, tuple], path: Path) -> Path:
    """Per length, validation score against training seconds: one line per configuration (and lr), the
    mean over seeds, with the band of its range across seeds (:func:`report.accuracy.curve_bands`)."""
    lengths = sorted(bands["seq_len"].dropna().unique()) or [math.nan]
    fig, axes = _figure(len(lengths))
    for ax, length in zip(axes, lengths):
        here = bands[bands["seq_len"] == length] if not pd.isna(length) else bands
        styles = dict(zip(sorted(here["lr"].unique(), key=str), ("-", "--", ":", "-.")))
        for (series, lr), line in here.groupby(["series", "lr"], sort=True):
            line = line.sort_values("step")
            colour = colours.get(series, "0.4")
            name = series if len(styles) == 1 else f"{series} lr={lr}"
            ax.plot(line["seconds"], line["mean"], color=colour, ls=styles.get(lr, "-"), lw=1.5, label=safe_text(name))
            ax.fill_between(line["seconds"], line["low"], line["high"], color=colour, alpha=0.2, lw=0)
        ax.set(title=f"T = {int(length)}" if not pd.isna(length) else "", xlabel="training time (s)",
               ylabel="validation score")  # fmt: skip
        ax.legend(fontsize=7)
    fig.suptitle(f"{safe_text(task)}: learning curves, band: seeds' range", x=0.01, ha="left")
    return save(fig, path)
