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

The interval is a percentile bootstrap of the mean (:func:`scipy.stats.bootstrap`, ``method=
"percentile"``, 9999 resamples, a fixed random state, so the same rows always give the same interval).
The percentile method is used rather than BCa because BCa is undefined for the few, often tied, scores
of a handful of seeds (all seeds at 100%). One seed has no interval (NaN); identical scores have an
interval of zero width.

:func:`select_lr` then keeps, per configuration, the learning rate with the best mean *validation*
score (never the test score: picking on test is what inflates single-seed leaderboards) and names it.
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
RESAMPLES = 9999
RANDOM_STATE = 0
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
    """The percentile-bootstrap ``confidence`` interval of the mean of ``values`` (NaN for fewer than 2)."""
    from scipy.stats import bootstrap

    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size < 2:
        return math.nan, math.nan
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    res = bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=RANDOM_STATE,
        vectorized=True,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _summary(values: Iterable[Any], prefix: str) -> dict[str, Any]:
    data = [float(v) for v in values if v is not None and not pd.isna(v)]
    low, high = mean_ci(data)
    return {
        f"{prefix}_n": len(data),
        f"{prefix}_mean": float(np.mean(data)) if data else math.nan,
        f"{prefix}_std": float(np.std(data, ddof=1)) if len(data) > 1 else math.nan,
        f"{prefix}_ci_low": low,
        f"{prefix}_ci_high": high,
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
        for column in SCORES:
            if column in ok:
                summary = _summary(ok[column], column)
                agg.update(summary)
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
    a row of its own, noted so. A configuration measured at one lr is noted as such.
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
        best = val.idxmax() if higher else val.idxmin()
        row = group.loc[best].copy()
        row["lr_choices"] = choices
        row["lr_note"] = f"lr={row['lr']:g} chosen on validation among {len(lrs)}"
        kept.append(row)
    return pd.DataFrame(kept).reset_index(drop=True)


__all__ = ["CONFIDENCE", "COSTS", "GROUP_COLUMNS", "aggregate", "default_target", "mean_ci", "reached", "select_lr"]
