"""Scaling exponents: how each cost grows with sequence length, fitted and declared (pure functions).

The fitted exponent is the least-squares slope of log(cost) against log(seq_len) over the lengths a
configuration was measured at. The declared exponent is the asymptotic one the algorithm should have
(each variant declares its own: ``RecurrentVariant.scaling_exponents``). Lower-order terms (the LSTM cell's work is
linear in T) pull a measured slope below the asymptotic one at short lengths, so only a slope clearly
*above* the declared one is flagged (unless those timings were flagged noisy). For FLOPs the variant's
analytic count, fitted over the same lengths, is the exact expectation, and the counted slope must
match it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attnbench.metrics import METRICS
from attnbench.params import ParameterError, axis_params
from attnbench.variants import VARIANTS

# What each cost column measures, for looking up the declared exponent (attnbench.metrics).
COST_KIND: dict[str, str] = {m.name: m.scales_as for m in METRICS if m.scales_as is not None}

# Counted FLOP column -> its analytic counterpart, fitted alongside as the exact expectation.
ANALYTIC_OF: dict[str, str] = {m.name: m.analytic for m in METRICS if m.analytic is not None}

# Timing columns and the flag that says their samples were noisy (IQR/median above 10%).
NOISY_FLAG: dict[str, str] = {m.name: m.noisy_flag for m in METRICS if m.noisy_flag is not None}

# A fitted slope more than this above the declared exponent is flagged.
ABOVE_TOLERANCE = 0.3
# A counted-FLOP slope further than this from the analytic slope is flagged.
ANALYTIC_TOLERANCE = 0.15
# Verdicts that mean something is probably wrong.
FLAGGED = ("steeper than declared", "differs from analytic count")
# Values of the memory column that mean "no cap".
UNBOUNDED = {"", "none", "null", "nan", "unbounded"}


def is_unbounded(memory: object) -> bool:
    """Whether a value of the ``memory`` column means the memory is not capped."""
    if memory is None or (isinstance(memory, float) and np.isnan(memory)):
        return True
    return str(memory).strip().lower() in UNBOUNDED


def expected_exponent(
    variant: str, cost: str, memory: object = None, params: Mapping[str, Any] | None = None
) -> float | None:
    """The asymptotic exponent of ``cost`` in T that ``variant`` declares; None when not declared.

    The variant declares it (``RecurrentVariant.scaling_exponents``) for its parameters: ``params``
    when the row has them (sweep results), else the row's memory-axis value (asv results carry only
    the axes). Costs with a large constant part (process RSS, NVML) have no declared exponent, and
    neither has a variant that is not installed here.
    """
    kind = COST_KIND.get(cost)
    if kind is None or variant not in VARIANTS:
        return None
    cls = VARIANTS.get(variant)
    if params is None:
        params = {}
        name = axis_params(cls.params).get("memory")
        if name is not None and not is_unbounded(memory):
            params[name] = memory
    try:
        declared = cls.scaling_exponents(**params)
    except ParameterError:
        return None
    return None if declared is None else declared.get(kind)


def declared_exponents() -> pd.DataFrame:
    """Every installed variant's declared exponents at its defaults (and, where it has one, with its
    memory capped), as a table for the report."""
    rows = []
    for name in VARIANTS.names():
        cls = VARIANTS.get(name)
        cases = [(name, {})]
        memory = axis_params(cls.params).get("memory")
        try:
            unbounded = memory is not None and cls.resolve({}).get(memory) is None
        except ParameterError:  # a class registered from code with bad defaults: no exponents, no crash
            unbounded = False
        if unbounded:
            cases = [(f"{name} (unbounded memory)", {}), (f"{name} ({memory} set)", {memory: 8})]
        for label, params in cases:
            try:
                declared = cls.scaling_exponents(**params)
            except ParameterError:
                declared = None
            rows.append({"variant": label, **(declared or {"time": "?", "flops": "?", "memory": "?"})})
    return pd.DataFrame(rows, columns=["variant", "time", "flops", "memory"])


def _params(raw: object) -> dict[str, Any] | None:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        loaded = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        return None
    return loaded if isinstance(loaded, dict) else None


def fit_exponent(seq_len: Sequence[float], cost: Sequence[float]) -> float | None:
    """Slope of log(cost) on log(seq_len); None without two distinct lengths with positive costs."""
    x = np.asarray(seq_len, dtype=float)
    y = np.asarray(cost, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log(x[keep]), np.log(y[keep])
    if len(np.unique(x)) < 2:
        return None
    slope, _ = np.polyfit(x, y, 1)
    return float(slope)


def _verdict(fitted: float | None, declared: float | None, analytic: float | None, noisy: bool = False) -> str:
    if fitted is None:
        return "too few lengths"
    if noisy and declared is not None and fitted > declared + ABOVE_TOLERANCE:
        return "noisy timings"
    if analytic is not None and abs(fitted - analytic) > ANALYTIC_TOLERANCE:
        return "differs from analytic count"
    if declared is None:
        return "no declared exponent"
    if fitted > declared + ABOVE_TOLERANCE:
        return "steeper than declared"
    return "ok"


def fit_exponents(
    frame: pd.DataFrame,
    costs: Sequence[str],
    by: Sequence[str] = ("task", "series", "batch", "hidden_size", "device", "dtype"),
) -> pd.DataFrame:
    """One row per configuration (``by``) and cost: fitted, analytic and declared exponents, verdict.

    Only rows with status ``ok`` and a positive cost count. Columns: the ``by`` columns, ``variant``,
    ``memory``, ``cost``, ``n`` (lengths used), ``seq_min``, ``seq_max``, ``fitted``, ``analytic``,
    ``declared``, ``verdict``.
    """
    out_cols = [
        *by,
        "variant",
        "memory",
        "cost",
        "n",
        "seq_min",
        "seq_max",
        "fitted",
        "analytic",
        "declared",
        "verdict",
    ]
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    records: list[dict[str, object]] = []
    keys = [c for c in by if c in ok.columns]
    if ok.empty or not keys:
        return pd.DataFrame(columns=out_cols)
    for key, group in ok.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        variant = str(group["variant"].iloc[0])
        memory = group["memory"].iloc[0] if "memory" in group else None
        params = _params(group["variant_params"].iloc[0]) if "variant_params" in group else None
        for cost in costs:
            if cost not in group or pd.to_numeric(group[cost], errors="coerce").isna().all():
                continue
            values = pd.to_numeric(group[cost], errors="coerce")
            used = group[values.notna() & (values > 0)]
            lengths = pd.to_numeric(used["seq_len"], errors="coerce")
            fitted = fit_exponent(lengths, pd.to_numeric(used[cost], errors="coerce"))
            analytic_col = ANALYTIC_OF.get(cost)
            analytic = None
            if analytic_col in used:
                analytic = fit_exponent(lengths, pd.to_numeric(used[analytic_col], errors="coerce"))
            declared = expected_exponent(variant, cost, memory, params)
            flag = NOISY_FLAG.get(cost)
            noisy = bool(flag in used and used[flag].map(lambda v: v is True or v == 1).any())
            records.append(
                {
                    **dict(zip(keys, key)),
                    "variant": variant,
                    "memory": memory,
                    "cost": cost,
                    "n": int(lengths.nunique()),
                    "seq_min": lengths.min(),
                    "seq_max": lengths.max(),
                    "fitted": fitted,
                    "analytic": analytic,
                    "declared": declared,
                    "verdict": _verdict(fitted, declared, analytic, noisy),
                }
            )
    return pd.DataFrame.from_records(records, columns=out_cols)


__all__ = [
    "ABOVE_TOLERANCE",
    "ANALYTIC_OF",
    "ANALYTIC_TOLERANCE",
    "COST_KIND",
    "FLAGGED",
    "declared_exponents",
    "expected_exponent",
    "fit_exponent",
    "fit_exponents",
    "is_unbounded",
]
