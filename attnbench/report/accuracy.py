"""Accuracy over seeds, for the report: configurations aggregated over their seeds, fronts on means with
intervals, and learning curves (pure functions of a results frame; the drawing is in ``plots``).

The aggregation is :func:`attnbench.aggregate.aggregate` (seeds as replicates, the learning rate chosen
on validation). A front point that is not cheaper than the one before it on the front (by cost, within
one length) wins by a higher mean; when the confidence intervals of the two overlap, the seeds do not
tell them apart and the point is marked ``distinct = False`` ("not distinguishable").
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from attnbench.aggregate import aggregate
from attnbench.report.frontier import pareto_mask


def seed_table(task_frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`aggregate` of one task's rows, with the report's ``series`` name and ``yerr`` columns
    (distances from the mean to the interval's ends; 0 where there is no interval)."""
    if "series" in task_frame:  # the report's display names (labels missing in old rows are built there)
        task_frame = task_frame.assign(label=task_frame["series"])
    agg = aggregate(task_frame)
    if agg.empty:
        return agg
    agg["series"] = agg["label"]
    mean = agg.get("score_mean", pd.Series(math.nan, index=agg.index)).astype(float)
    agg["yerr_low"] = (mean - agg.get("score_ci_low", mean).astype(float)).fillna(0.0)
    agg["yerr_high"] = (agg.get("score_ci_high", mean).astype(float) - mean).fillna(0.0)
    return agg


def mean_front(agg: pd.DataFrame, cost: str, higher: bool, y: str = "score_mean") -> pd.DataFrame:
    """Rows of ``agg`` with ``y`` (the mean score; or ``success_rate``, ``seconds_to_target``) and a
    positive ``cost``, with ``on_front`` (the front of ``y`` against the cost, per length) and, for the
    mean score, ``distinct`` (False where a front point's interval overlaps that of the front point it
    displaces, the cheaper one before it)."""
    if agg.empty or cost not in agg or y not in agg:
        return pd.DataFrame(columns=[*agg.columns, "on_front", "distinct"])
    ok = agg[pd.to_numeric(agg[y], errors="coerce").notna() & pd.to_numeric(agg[cost], errors="coerce").gt(0)]
    ok = ok.copy()
    ok["on_front"] = False
    ok["distinct"] = True
    for _, here in ok.groupby("seq_len", dropna=False, sort=True):
        mask = pareto_mask(here, {cost: "min", y: "max" if higher else "min"})
        ok.loc[here.index, "on_front"] = mask.to_numpy()
        front = here[mask.to_numpy()].sort_values(cost)
        if y != "score_mean":
            continue
        for before, after in zip(front.index[:-1], front.index[1:]):
            lo_a, hi_a = ok.at[after, "score_ci_low"], ok.at[after, "score_ci_high"]
            lo_b, hi_b = ok.at[before, "score_ci_low"], ok.at[before, "score_ci_high"]
            if any(pd.isna(v) for v in (lo_a, hi_a, lo_b, hi_b)):
                continue  # one seed: nothing to tell apart with
            ok.at[after, "distinct"] = not (lo_a <= hi_b and lo_b <= hi_a)
    return ok


def curve_table(task_frame: pd.DataFrame) -> pd.DataFrame:
    """The learning curves of ``ok`` rows, long: series, seq_len, lr, seed, step, seconds, val_score."""
    cols = ["series", "seq_len", "lr", "seed", "step", "seconds", "val_score"]
    records = []
    if "val_curve" not in task_frame:
        return pd.DataFrame(columns=cols)
    for _, row in task_frame[task_frame["status"] == "ok"].iterrows():
        raw = row.get("val_curve")
        try:
            curve = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if not isinstance(curve, list):
            continue
        for point in curve:
            if isinstance(point, list) and len(point) == 3 and all(isinstance(v, (int, float)) for v in point):
                records.append([row["series"], row["seq_len"], row.get("lr"), row["seed"], *map(float, point)])
    return pd.DataFrame.from_records(records, columns=cols)


def curve_bands(curves: pd.DataFrame) -> pd.DataFrame:
    """Per series, length, lr and curve step: the mean training seconds, the mean validation score and its
    range across seeds (``low``, ``high``), and ``n`` seeds."""
    if curves.empty:
        return pd.DataFrame(columns=["series", "seq_len", "lr", "step", "seconds", "mean", "low", "high", "n"])
    keyed = curves.assign(lr=curves["lr"].astype(object).where(curves["lr"].notna(), "?"))
    grouped = keyed.groupby(["series", "seq_len", "lr", "step"], sort=True)
    out = grouped.agg(
        seconds=("seconds", "mean"),
        mean=("val_score", "mean"),
        low=("val_score", "min"),
        high=("val_score", "max"),
        n=("val_score", "size"),
    )
    return out.reset_index()


def interval_text(mean: float, low: float, high: float, n: int) -> str:
    """``0.61 [0.36, 0.88] (n=3)``; the interval left out where there is none."""
    if mean is None or pd.isna(mean):
        return "–"
    if low is None or pd.isna(low) or not np.isfinite(low):
        return f"{mean:.3g} (n={int(n)})"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}] (n={int(n)})"


__all__ = ["curve_bands", "curve_table", "interval_text", "mean_front", "seed_table"]
