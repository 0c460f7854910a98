"""Seeds as replicates: one row per configuration from the rows of its seeds, and the learning rate
chosen on validation.

:func:`aggregate` groups result rows by configuration (every configuration column but the seed and
the point id) and gives per configuration: ``n`` (seeds with a score), the mean, standard deviation
(ddof=1) and a 95% confidence interval of the mean of the test score and of the validation score, the
success rate (fraction of the configuration's runs that reached the task's target; a run that
crashed, ran out of memory or timed out counts as not reaching it, as MLPerf Training counts
non-converged runs) and the median steps and seconds to the target over the runs that reached it.
Costs aggregate as the median of the per-seed figures (each already a median of its timed repeats),
with their spread across seeds as ``<metric>_min`` and ``<metric>_max``.

The interval (:data:`INTERVAL_METHOD`, also in the ``ci_method`` column) is Student's t interval of
the mean: mean +- t(0.975, n - 1) * s / sqrt(n) (:func:`scipy.stats.t`), whose coverage holds at the
3 to 10 seeds a sweep has (tests/test_aggregate.py simulates it at n = 3 and 5). A percentile
bootstrap does not: of three scores it always returns their range, [min, max], since a resample of
three copies of the lowest has probability 1/27 > 2.5%. The t interval is not clipped to the metric's
range (an accuracy interval may reach past 1 where few seeds lie far apart: it says how little they
tell). One seed has no interval (NaN); identical scores have an interval of zero width. Each seed's
score is kept, in seed order, as JSON in ``score_values`` and ``val_score_values``, so a report can
show a bimodal result (two seeds solve, one does not) for what it is; ``final_loss_mean`` is the mean
final training loss.

:func:`select_lr` then keeps, per configuration, the learning rate with the best mean *validation*
score (never the test score: picking on test is what inflates single-seed leaderboards) and names it.
Ties are broken by a stated rule: lrs whose mean validation scores are equal (within
:data:`TIE_TOLERANCE`) tie; among them the one with the lower mean final training loss
(``final_loss_mean``) wins, then the smaller lr; ``lr_note`` says that it was a tie and how it was
broken, e.g. "lr=0.001 chosen on validation among 3 (tie on validation with lr=0.01: broken by lower
training loss)". The row order never decides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attnbench import config
from attnbench.metrics import METRICS

CONFIDENCE = 0.95
INTERVAL_METHOD = f"Student's t, {CONFIDENCE:.0%}"
# Mean validation scores closer than this (absolute) are a tie for select_lr.
TIE_TOLERANCE = 1e-12
# Columns that differ between the replicates of one configuration.
REPLICATE_COLUMNS = config.REPLICATE_COLUMNS
# Configuration columns grouped on (those present in the frame): every column a row records about its
# run but the replicates' (attnbench.config.run_columns), so rows that differ in any option that made
# them (optimizer, clip, compile, ...) are never pooled as seeds.
GROUP_COLUMNS = config.config_keys()
SCORES = ("score", "val_score")
# Costs: numeric metrics with a direction, other than the accuracy figures aggregated above.
COSTS = tuple(
    m.name
    for m in METRICS
    if m.column and m.better in ("lower", "higher") and m.unit not in ("JSON", "bool", "name")
    and m.name not in ("final_loss", "steps_to_target", "seconds_to_target")
)  # fmt: skip


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t ``confidence`` interval of the mean of ``values`` (NaN for fewer than 2 finite values;
    zero width for identical ones)."""
    from scipy.stats import t

    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size < 2:
        return math.nan, math.nan
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    mean, sem = float(np.mean(data)), float(np.std(data, ddof=1)) / math.sqrt(data.size)
    half = float(t.ppf(0.5 + confidence / 2, data.size - 1)) * sem
    return mean - half, mean + half


def _summary(values: Iterable[Any], prefix: str) -> dict[str, Any]:
    data = [float(v) for v in values if v is not None and not pd.isna(v)]
    low, high = mean_ci(data)
    return {
        f"{prefix}_n": len(data),
        f"{prefix}_mean": float(np.mean(data)) if data else math.nan,
        f"{prefix}_std": float(np.std(data, ddof=1)) if len(data) > 1 else math.nan,
        f"{prefix}_ci_low": low,
        f"{prefix}_ci_high": high,
        f"{prefix}_values": json.dumps(data),
    }


def default_target(task: str, task_params: Any = None) -> float | None:
    """The target score the task declares (None for a task not installed here or one without)."""
    from attnbench.registry import UnknownNameError
    from attnbench.tasks import get_task

    try:
        return get_task(str(task)).target
    except (UnknownNameError, AttributeError):
        return None


def reached(row: pd.Series) -> bool:
    """Whether a row's run reached its target: from its learning curve (``steps_to_target``) where it
    has one, else from its final test score against the row's (or the task's) target."""
    if row.get("status") != "ok":
        return False
    if isinstance(row.get("val_curve"), str) and row["val_curve"]:
        return not pd.isna(row.get("steps_to_target"))
    target = row.get("target")
    if target is None or pd.isna(target):
        target = default_target(row.get("task"))
    score = row.get("score")
    if target is None or score is None or pd.isna(score):
        return False
    higher = row.get("higher_is_better")
    higher = True if higher is None or pd.isna(higher) else bool(higher)
    return bool(score >= target) if higher else bool(score <= target)


def aggregate(frame: pd.DataFrame, *, choose_lr: bool = True) -> pd.DataFrame:
    """One row per configuration (seeds as replicates): see the module docstring for the columns.

    With ``choose_lr`` (the default) the learning rates of a configuration are then chosen between on
    validation (:func:`select_lr`); without it every lr keeps a row of its own.

    Skipped rows are left out (the combination makes no sense); every other row of a configuration
    counts in ``n_runs`` and in the success rate, only rows with a score in the score statistics.
    """
    if frame.empty:
        return pd.DataFrame()
    rows = frame[frame.get("status", pd.Series("ok", index=frame.index)) != "skipped"].copy()
    keys = [c for c in GROUP_COLUMNS if c in rows.columns]
    for key in keys:  # groupby needs hashable, comparable keys: None/NaN become one marker
        rows[key] = rows[key].astype(object).where(rows[key].notna(), None)
    out = []
    for key_values, group in rows.groupby(keys, dropna=False, sort=False):
        key_values = key_values if isinstance(key_values, tuple) else (key_values,)
        agg: dict[str, Any] = dict(zip(keys, key_values))
        ok = group[group.get("status", pd.Series("ok", index=group.index)) == "ok"]
        agg["n_runs"] = len(group)
        agg["seeds"] = json.dumps(sorted(int(s) for s in group["seed"].dropna())) if "seed" in group else "[]"
        for column in ("score_metric", "higher_is_better", "chance"):
            if column in group:
                known = group[column].dropna()
                agg[column] = known.iloc[0] if len(known) else None
        by_seed = ok.sort_values("seed", kind="stable") if "seed" in ok else ok
        for column in SCORES:
            if column in ok:
                summary = _summary(by_seed[column], column)
                agg.update(summary)
        agg["ci_method"] = INTERVAL_METHOD
        if "final_loss" in ok:
            losses = pd.to_numeric(ok["final_loss"], errors="coerce").dropna()
            agg["final_loss_mean"] = float(losses.mean()) if len(losses) else math.nan
        agg["n"] = agg.get("score_n", 0)
        hits = [reached(r) for _, r in group.iterrows()]
        agg["success_rate"] = sum(hits) / len(hits) if hits else math.nan
        for column in ("steps_to_target", "seconds_to_target"):
            if column in ok:
                values = ok[column].dropna().astype(float)
                agg[column] = float(values.median()) if len(values) else math.nan
        for column in COSTS:
            if column in ok:
                values = pd.to_numeric(ok[column], errors="coerce").dropna()
                agg[column] = float(values.median()) if len(values) else math.nan
                agg[f"{column}_min"] = float(values.min()) if len(values) else math.nan
                agg[f"{column}_max"] = float(values.max()) if len(values) else math.nan
        agg["status"] = "ok" if len(ok) else str(group["status"].iloc[0]) if "status" in group else "ok"
        out.append(agg)
    result = pd.DataFrame(out)
    return select_lr(result) if choose_lr else result


def select_lr(agg: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (all but the learning rate), the row of the lr with the best mean validation
    score, with ``lr_choices`` (JSON list of the lrs measured) and ``lr_note``.

    Where no lr of a configuration has a validation score, the lrs cannot be chosen between: each stays
    a row of its own, noted so. A configuration measured at one lr is noted as such. Lrs tied on mean
    validation score (within :data:`TIE_TOLERANCE`) are chosen between by the lower ``final_loss_mean``,
    then the smaller lr, and the note says so.
    """
    if agg.empty or "lr" not in agg.columns:
        out = agg.copy()
        out["lr_choices"] = "[]"
        out["lr_note"] = "learning rate not recorded"
        return out
    keys = [c for c in GROUP_COLUMNS if c in agg.columns and c != "lr"]
    kept = []
    for _, group in agg.groupby(keys, dropna=False, sort=False):
        lrs = sorted(float(v) for v in group["lr"].dropna())
        choices = json.dumps(lrs)
        if len(group) == 1:
            row = group.iloc[0].copy()
            note = "single learning rate" if lrs else "learning rate not recorded"
            row["lr_choices"], row["lr_note"] = choices, note
            kept.append(row)
            continue
        val = group.get("val_score_mean", pd.Series(math.nan, index=group.index)).astype(float)
        if val.isna().all():
            for _, row in group.iterrows():
                row = row.copy()
                row["lr_choices"], row["lr_note"] = choices, "no validation score: lr not chosen"
                kept.append(row)
            continue
        higher = group["higher_is_better"].dropna()
        higher = True if higher.empty else bool(higher.iloc[0])
        tied = _tied(group, val, higher)
        row = group.loc[_best_lr(tied)].copy()
        row["lr_choices"] = choices
        row["lr_note"] = f"lr={row['lr']:g} chosen on validation among {len(lrs)}" + _tie_note(tied, row)
        kept.append(row)
    return pd.DataFrame(kept).reset_index(drop=True)


def _tied(group: pd.DataFrame, val: pd.Series, higher: bool) -> pd.DataFrame:
    """The rows of ``group`` whose mean validation score ties with the best one."""
    best = val.max() if higher else val.min()
    return group[(val - best).abs() <= TIE_TOLERANCE]


def _final_loss(rows: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(rows.get("final_loss_mean", pd.Series(math.nan, index=rows.index)), errors="coerce")


def _best_lr(tied: pd.DataFrame) -> Any:
    """The index of the chosen lr among those tied on validation: the lower mean final training loss
    (unknown last), then the smaller lr. Independent of the row order."""
    loss = _final_loss(tied)
    order = pd.DataFrame({"loss": loss.fillna(math.inf), "lr": tied["lr"].astype(float)}, index=tied.index)
    return order.sort_values(["loss", "lr"], kind="stable").index[0]


def _tie_note(tied: pd.DataFrame, row: pd.Series) -> str:
    """`` (tie on validation with lr=...: broken by ...)`` where the chosen lr tied, else empty."""
    others = sorted(float(v) for v in tied["lr"] if float(v) != float(row["lr"]))
    if not others:
        return ""
    loss = _final_loss(tied)
    mine = loss[tied["lr"].astype(float) == float(row["lr"])]
    rest = loss[tied["lr"].astype(float) != float(row["lr"])]
    by_loss = mine.notna().all() and bool((rest.isna() | (rest > mine.iloc[0])).all())
    rule = "lower training loss" if by_loss else "smaller lr"
    return f" (tie on validation with {', '.join(f'lr={v:g}' for v in others)}: broken by {rule})"


__all__ = [
    "CONFIDENCE",
    "COSTS",
    "GROUP_COLUMNS",
    "INTERVAL_METHOD",
    "TIE_TOLERANCE",
    "aggregate",
    "default_target",
    "mean_ci",
    "reached",
    "select_lr",
]
