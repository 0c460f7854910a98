"""Comparisons of runs as rliable makes them (Agarwal et al. 2021, "Deep reinforcement learning at the
edge of the statistical precipice", https://github.com/google-research/rliable): the probability of
improvement over the plain lstm and performance profiles, as pure functions of per-run scores.

- :func:`probability_of_improvement`: P(X > Y) + 0.5 P(X = Y) over every pair of a run X of one
  configuration and a run Y of the other, the Mann-Whitney U statistic over n m
  (:func:`scipy.stats.mannwhitneyu`), as ``rliable.metrics.probability_of_improvement`` computes it.
- :func:`improvement_interval`: its confidence interval. rliable takes a stratified percentile
  bootstrap over runs; at the 3 to 5 runs a configuration has here that interval collapses (when every
  run of X beats every run of Y, every resample does too, and the interval is [1, 1]), the failure that
  made aggregate leave the percentile bootstrap for the mean. So the interval is Newcombe's score
  interval for U / (n m) (R. G. Newcombe, "Confidence intervals for an effect size measure based on the
  Mann-Whitney statistic. Part 2: asymptotic methods and evaluation", Statistics in Medicine 25, 2006,
  method 5): the roots in theta of (theta_hat - theta)^2 = z^2 V(theta) with V(theta) = theta (1 - theta)
  [1 + N* ((1 - theta) / (2 - theta) + theta / (1 + theta))] / (n m), N* = (n + m) / 2 - 1, which stays
  inside [0, 1] and has a width even at theta_hat = 1. With three runs a side it is wide ([0.50, 1]
  where every run wins): three runs tell little, and the interval says so. Simulated (2,000 draws of
  normal runs, true theta 0.50, 0.76, 0.92) it covers 90%, 94% and 97% at three runs a side and 95%,
  96% and 95% at five, where the percentile bootstrap covers 82%, 72% and 37%, and 91%, 92% and 62%.
- :func:`performance_profile`: the share of runs whose score is better than each threshold (above it,
  or below for a lower-is-better metric), rliable's score distribution, for tasks that runs either solve
  or fail, where a mean hides the split.

The rliable package itself is not used: its interval estimates need ``arch``, which with its
statsmodels and formulaic adds about 80 MB beside our pins, and ``arch`` 7.2 fails to import beside
pandas 3 (``deprecate_kwarg() missing 1 required positional argument``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attnbench.aggregate import CONFIDENCE

BASELINE = "lstm"
IMPROVEMENT_METHOD = "Newcombe's score interval (2006, method 5)"
# Columns a configuration and the lstm it is compared with must share (those present).
MATCH_COLUMNS = ("seq_len", "task_params", "batch", "hidden_size", "device", "dtype", "train_steps")


def _finite(values: Sequence[float]) -> np.ndarray:
    data = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    return data[np.isfinite(data)]


def probability_of_improvement(x: Sequence[float], y: Sequence[float], higher: bool = True) -> float:
    """P(X beats Y) + 0.5 P(X = Y) over all pairs of a score of ``x`` and one of ``y`` (NaN if either is
    empty); a higher score beats a lower one, or the reverse where ``higher`` is False."""
    from scipy.stats import mannwhitneyu

    a, b = _finite(x), _finite(y)
    if not a.size or not b.size:
        return math.nan
    if not higher:
        a, b = -a, -b
    return float(mannwhitneyu(a, b, method="asymptotic").statistic) / (a.size * b.size)


def _variance(theta: float, n: int, m: int) -> float:
    star = (n + m) / 2 - 1
    return theta * (1 - theta) * (1 + star * ((1 - theta) / (2 - theta) + theta / (1 + theta))) / (n * m)


def _lower(p: float, n: int, m: int, z: float) -> float:
    from scipy.optimize import brentq

    if p <= 0:
        return 0.0

    def f(theta: float) -> float:
        return p - theta - z * math.sqrt(_variance(theta, n, m))

    top = p if p < 1 else 1 - 1e-12  # at p = 1 the root sought is the one below the trivial root at 1
    return float(brentq(f, 0.0, top, xtol=1e-10))


def improvement_interval(p: float, n: int, m: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's score ``confidence`` interval of a probability of improvement ``p`` measured over ``n``
    runs against ``m`` (NaN where ``p`` is NaN or a side has no run)."""
    from scipy.stats import norm

    if p is None or pd.isna(p) or n < 1 or m < 1:
        return math.nan, math.nan
    z = float(norm.ppf(0.5 + confidence / 2))
    return _lower(p, n, m, z), 1 - _lower(1 - p, n, m, z)  # V is symmetric in theta and 1 - theta


def performance_profile(scores: Sequence[float], thresholds: Sequence[float], higher: bool = True) -> np.ndarray:
    """The share of ``scores`` better than each threshold: above it (below it where ``higher`` is False);
    NaN at every threshold where there is no score."""
    data = _finite(scores)
    tau = np.asarray(thresholds, dtype=float)
    if not data.size:
        return np.full(tau.shape, math.nan)
    better = data[None, :] > tau[:, None] if higher else data[None, :] < tau[:, None]
    return better.mean(axis=1)


def run_scores(row: pd.Series) -> list[float]:
    """The per-seed test scores of an aggregated row (its ``score_values`` JSON; empty if none)."""
    raw = row.get("score_values")
    try:
        values = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return []
    return (
        [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if isinstance(values, list)
        else []
    )


def _plain_lstm(agg: pd.DataFrame) -> pd.Series:
    """The rows of the plain lstm: its label names no parameter that differs from its defaults (stored rows
    hold every parameter, defaults filled in, so ``variant_params`` alone cannot tell)."""
    labels = agg.get("label", pd.Series(None, index=agg.index))
    params = agg.get("variant_params", pd.Series(None, index=agg.index))
    empty = params.map(lambda p: p is None or (isinstance(p, float) and math.isnan(p)) or str(p) in ("", "{}"))
    return (agg["variant"] == BASELINE) & ((labels == BASELINE) | empty)


def _same(a: Any, b: Any) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    return all(missing) or (not any(missing) and a == b)


def baseline_pairs(agg: pd.DataFrame) -> Iterator[tuple[Any, pd.Series, Any, pd.Series]]:
    """Every (index, row) of ``agg`` other than the plain lstm with the (index, row) of each plain lstm of
    the same setting (:data:`MATCH_COLUMNS` present in ``agg``)."""
    plain = _plain_lstm(agg)
    match = [c for c in MATCH_COLUMNS if c in agg]
    for i, row in agg[~plain].iterrows():
        for j, base in agg[plain].iterrows():
            if all(_same(row[c], base[c]) for c in match):
                yield i, row, j, base


def improvement_table(agg: pd.DataFrame, higher: bool = True, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per configuration of ``agg`` (:func:`attnbench.aggregate.aggregate` rows, lr chosen) other than
    the plain lstm: the probability that its run beats a run of the plain lstm of the same setting
    (:data:`MATCH_COLUMNS`), with its interval: ``series``, ``seq_len``, ``lr``, ``against`` (the lstm's
    series), ``p``, ``low``, ``high``, ``n`` and ``m`` (runs with a score of each), ``scores`` and
    ``baseline_scores`` (lists). Empty where there is no plain lstm."""
    cols = ["series", "seq_len", "lr", "against", "p", "low", "high", "n", "m", "scores", "baseline_scores"]
    if agg.empty or "variant" not in agg:
        return pd.DataFrame(columns=cols)
    names = agg["series"] if "series" in agg else agg["label"]
    records = []
    for i, row, j, base in baseline_pairs(agg):
        x, y = run_scores(row), run_scores(base)
        p = probability_of_improvement(x, y, higher)
        low, high = improvement_interval(p, len(x), len(y), confidence)
        records.append([names[i], row.get("seq_len"), row.get("lr"), names[j], p, low, high, len(x), len(y), x, y])
    return pd.DataFrame.from_records(records, columns=cols)


def versus_baseline(low: float, high: float, base_low: float, base_high: float, higher: bool = True) -> str:
    """Where a configuration's interval [low, high] lies against the plain lstm's: ``"better"`` (entirely on
    the metric's better side of it), ``"worse"`` (entirely on the other side), ``"overlaps"``, or
    ``"no interval"`` where either side has none (a single seed)."""
    ends = [low, high, base_low, base_high]
    if any(v is None or pd.isna(v) or not math.isfinite(float(v)) for v in ends):
        return "no interval"
    above, below = float(low) > float(base_high), float(high) < float(base_low)
    if above or below:
        return "better" if above == higher else "worse"
    return "overlaps"


def separation_table(agg: pd.DataFrame, higher: bool = True) -> pd.DataFrame:
    """Per configuration of ``agg`` other than the plain lstm, against the plain lstm of the same setting
    (:data:`MATCH_COLUMNS`): ``series``, ``seq_len``, ``against`` and ``verdict`` (:func:`versus_baseline`
    on the two intervals of the mean at their chosen lrs). Empty where there is no plain lstm."""
    cols = ["index", "series", "seq_len", "against", "verdict"]
    if agg.empty or "variant" not in agg or "score_ci_low" not in agg:
        return pd.DataFrame(columns=cols)
    names = agg["series"] if "series" in agg else agg["label"]
    records = []
    for i, row, j, base in baseline_pairs(agg):
        ends = (row["score_ci_low"], row["score_ci_high"], base["score_ci_low"], base["score_ci_high"])
        records.append([i, names[i], row.get("seq_len"), names[j], versus_baseline(*ends, higher=higher)])
    return pd.DataFrame.from_records(records, columns=cols)


def profile_table(agg: pd.DataFrame, higher: bool = True, points: int = 101) -> pd.DataFrame:
    """Long table of performance profiles: per configuration (``series``, ``seq_len``) and threshold
    ``tau`` (``points`` evenly spaced from the lowest score to the highest of each length), ``share``
    of its runs better than ``tau``, and ``n`` runs."""
    cols = ["series", "seq_len", "tau", "share", "n"]
    if agg.empty or "score_values" not in agg:
        return pd.DataFrame(columns=cols)
    names = agg["series"] if "series" in agg else agg["label"]
    scores = {i: run_scores(row) for i, row in agg.iterrows()}
    records = []
    for length, here in agg.groupby("seq_len", dropna=False, sort=True):
        pooled = [s for i in here.index for s in scores[i]]
        if not pooled:
            continue
        tau = np.linspace(min(pooled), max(pooled), points) if max(pooled) > min(pooled) else np.array(pooled[:1])
        for i in here.index:
            if scores[i]:
                share = performance_profile(scores[i], tau, higher)
                records += [[names[i], length, t, s, len(scores[i])] for t, s in zip(tau, share)]
    return pd.DataFrame.from_records(records, columns=cols)


__all__ = [
    "BASELINE",
    "IMPROVEMENT_METHOD",
    "MATCH_COLUMNS",
    "baseline_pairs",
    "improvement_interval",
    "improvement_table",
    "performance_profile",
    "probability_of_improvement",
    "profile_table",
    "run_scores",
    "separation_table",
    "versus_baseline",
]
