"""Line figures of the report: costs against sequence length (log-log) and gradient reach.

Like :mod:`~attnbench.report.plots`, these only draw: the exponents come from
:func:`attnbench.report.scaling.fit_exponents`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator
from matplotlib.transforms import blended_transform_factory

from attnbench.report.plots import FAILED, STATUS_COLORS, _figure, _legend, format_axis, safe_text, save
from attnbench.report.scaling import FLAGGED, NOISY_FLAG, expected_exponent
from attnbench.report.tables import axis_label


def _guides(ax, lengths: np.ndarray, anchor: float) -> None:  # noqa: ANN001
    """Faint T^1 and T^2 lines through the first point, to read slopes against (limits unchanged)."""
    x = np.array([lengths.min(), lengths.max()], dtype=float)
    ylim = ax.get_ylim()
    for power, ls in ((1, "--"), (2, ":")):
        ax.plot(x, anchor * (x / x[0]) ** power, ls=ls, color="0.6", lw=1, zorder=0, scalex=False, scaley=False)
    ax.set_ylim(ylim)


def _exponent_text(fit: pd.Series | None) -> str:
    if fit is None or pd.isna(fit["fitted"]):
        return ""
    declared = "?" if pd.isna(fit["declared"]) else f"{fit['declared']:g}"
    flag = " !" if fit["verdict"] in FLAGGED else ""
    return f"{fit['fitted']:.2f} (expect {declared}){flag}"


def scaling_figure(
    frame: pd.DataFrame, fits: pd.DataFrame, task: str, costs: list[str], colours: dict[str, tuple], path: Path
) -> Path:
    """Each cost against sequence length, one line per configuration, fitted exponent beside it.

    Timings flagged noisy (IQR/median above 10%) are drawn hollow; failed points sit on the top edge.
    """
    data = frame[frame["task"] == task]
    fig, axes = _figure(len(costs), ncols=2, width=6.0, height=4.2)
    any_noisy = False
    for ax, cost in zip(axes, costs):
        ok = data[(data["status"] == "ok") & pd.to_numeric(data[cost]).gt(0)]
        labels = []
        for series, line in ok.groupby("series", sort=True):
            line = line.assign(noisy=line[NOISY_FLAG[cost]].fillna(False).astype(bool) if cost in NOISY_FLAG else False)
            line = line.groupby("seq_len", as_index=False).agg(value=(cost, "median"), noisy=("noisy", "any"))
            colour = colours[series]
            ax.plot(line["seq_len"], line["value"], color=colour, lw=1.6)
            ax.scatter(line["seq_len"], line["value"], s=30, color=colour, zorder=3)
            noisy = line[line["noisy"]]
            if len(noisy):
                any_noisy = True
                ax.scatter(noisy["seq_len"], noisy["value"], s=30, facecolor="white", edgecolor=colour, zorder=4)
            match = fits[(fits["task"] == task) & (fits["series"] == series) & (fits["cost"] == cost)]
            text = _exponent_text(match.iloc[0] if len(match) else None)
            if text:
                labels.append((line["seq_len"].iloc[-1], line["value"].iloc[-1], text, colour))
        format_axis(ax, "y", cost, log=True, values=ok[cost])
        ax.set_xscale("log")
        lengths = sorted(data[data["status"] != "skipped"]["seq_len"].dropna().unique())
        ax.set_xticks(lengths, [f"{int(t)}" for t in lengths])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.margins(x=0.3)
        if len(ok) and expected_exponent(str(ok["variant"].iloc[0]), cost) is not None:
            first = ok[ok["seq_len"] == ok["seq_len"].min()]
            _guides(ax, ok["seq_len"].to_numpy(), float(first[cost].median()))
        _failed_marks(ax, data[data["status"].isin(FAILED)], colours)
        _place_labels(ax, labels)
        ax.set(xlabel="sequence length T (steps, log)", ylabel=axis_label(cost) + ", log", title=axis_label(cost))
    extra = [
        Line2D([], [], ls="--", color="0.6", label="slope 1 (linear in T)"),
        Line2D([], [], ls=":", color="0.6", label="slope 2 (quadratic)"),
    ]
    if data["status"].isin(FAILED).any():
        extra.append(Line2D([], [], marker="X", ls="", color="0.3", label="failed at this T (top edge)"))
    if any_noisy:
        extra.append(Line2D([], [], marker="o", ls="", mfc="white", mec="0.3", label="noisy timing (IQR > 10%)"))
    _legend(fig, colours, "configuration", extra, shown=data[data["status"] != "skipped"]["series"].unique())
    fig.suptitle(f"{safe_text(task)}: cost against sequence length, fitted exponent (expected)", x=0.01, ha="left")
    return save(fig, path)


def _place_labels(ax, labels: list[tuple[float, float, str, tuple]], gap: float = 0.05) -> None:  # noqa: ANN001
    """Exponent labels right of each line's last point, pushed apart vertically so none overlap."""
    if not labels:
        return
    to_axes = ax.transData + ax.transAxes.inverted()
    placed = sorted((*to_axes.transform((x, y)), text, colour, x, y) for x, y, text, colour in labels)
    by_column: dict[float, list] = {}
    for fx, fy, text, colour, x, y in placed:
        by_column.setdefault(round(fx, 3), []).append([fy, text, colour, x, y])
    for fx, column in by_column.items():
        column.sort(key=lambda item: item[0])
        for k in range(1, len(column)):
            column[k][0] = max(column[k][0], column[k - 1][0] + gap)
        excess = column[-1][0] - 0.98
        if excess > 0:  # keep the stack inside the axes, from the top down
            for item in column:
                item[0] -= excess
        for fy, text, colour, x, y in column:
            ax.annotate(
                text,
                (x, y),
                xytext=(fx + 0.03, fy),
                textcoords="axes fraction",
                fontsize=7,
                color=colour,
                va="center",
                arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.5, "alpha": 0.6},
            )


def _failed_marks(ax, failed: pd.DataFrame, colours: dict[str, tuple]) -> None:  # noqa: ANN001
    """Failed points at their length in a strip along the top of the axes, marked with their status."""
    if failed.empty:
        return
    rows = int(failed.groupby("seq_len").size().max())
    strip = min(0.6, 0.05 + 0.09 * rows)  # fraction of the axes height kept free for the marks
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * (hi / lo) ** (strip / (1 - strip)))
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    seen: dict[float, int] = {}
    for r in failed.sort_values("series").itertuples():
        k = seen.get(r.seq_len, 0)
        seen[r.seq_len] = k + 1
        y = 0.96 - 0.09 * k
        colour = colours.get(r.series, "0.3")
        ax.plot([r.seq_len], [y], marker="X", ms=8, color=colour, mec="k", transform=transform, clip_on=False)
        ax.annotate(
            r.status,
            (r.seq_len, y),
            xycoords=transform,
            xytext=(6, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
            color=STATUS_COLORS.get(r.status, "k"),
        )


def grad_reach_figure(
    reach: pd.DataFrame, task: str, colours: dict[str, tuple], path: Path, max_panels: int = 3
) -> Path:
    """Gradient norm against distance into the past, one line per configuration, per sequence length."""
    data = reach[reach["task"] == task]
    lengths = sorted(data["seq_len"].unique())[-max_panels:]
    fig, axes = _figure(len(lengths), ncols=3, width=5.0, height=3.8)
    positive = data["norm"][data["norm"] > 0]
    floor = float(positive.min()) / 10 if len(positive) else 1e-12
    for ax, length in zip(axes, lengths):
        here = data[data["seq_len"] == length].copy()
        zero = here["norm"] <= 0
        here["shown"] = here["norm"].where(~zero, floor)
        sns.lineplot(
            data=here,
            x="distance",
            y="shown",
            hue="series",
            palette=colours,
            marker="o",
            ms=4,
            errorbar=None,
            ax=ax,
            legend=False,
        )
        if zero.any():
            ax.axhline(floor, color="0.5", lw=0.8, ls="--")
            ax.text(
                0.01,
                floor,
                " exactly 0 (drawn here)",
                transform=blended_transform_factory(ax.transAxes, ax.transData),
                fontsize=7,
                va="bottom",
                color="0.35",
            )
        ax.set_yscale("log")
        ax.set(
            title=f"T = {int(length)}", xlabel="distance into the past (steps)", ylabel="gradient norm |dL/dh| (log)"
        )
    _legend(fig, {s: colours[s] for s in sorted(data["series"].unique())}, "configuration")
    fig.suptitle(f"{safe_text(task)}: gradient reach, |d loss_T / d h_(T-1-d)|", x=0.01, ha="left")
    return save(fig, path)


__all__ = ["grad_reach_figure", "scaling_figure"]
