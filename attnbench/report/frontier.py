"""Pareto fronts: pure functions over a DataFrame, any number of objectives, each minimised or maximised.

A row *dominates* another when it is at least as good on every objective and strictly better on one.
The front is the set of rows no other row dominates. Rows with a missing (NaN) objective are neither
on the front nor able to dominate: a point that was not measured cannot win or lose. Identical rows
do not dominate each other, so both stay on the front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

Direction = Literal["min", "max"]
DIRECTIONS: tuple[Direction, ...] = ("min", "max")


def _as_minimised(frame: pd.DataFrame, objectives: Mapping[str, Direction]) -> np.ndarray:
    """The objective columns as floats, sign-flipped so that every column is to be minimised."""
    if not objectives:
        raise ValueError("a Pareto front needs at least one objective")
    columns = []
    for name, direction in objectives.items():
        if direction not in DIRECTIONS:
            raise ValueError(f"objective {name!r}: direction {direction!r} is not one of {DIRECTIONS}")
        if name not in frame.columns:
            raise KeyError(f"objective {name!r} is not a column; columns: {', '.join(map(str, frame.columns))}")
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        columns.append(values if direction == "min" else -values)
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def pareto_mask(frame: pd.DataFrame, objectives: Mapping[str, Direction]) -> pd.Series:
    """Boolean Series (aligned with ``frame``): True where the row is on the Pareto front.

    ``objectives`` maps column names to ``"min"`` or ``"max"``. Non-numeric values count as missing.
    """
    values = _as_minimised(frame, objectives)
    complete = ~np.isnan(values).any(axis=1)
    mask = np.zeros(len(frame), dtype=bool)
    candidates = values[complete]
    on_front = np.ones(len(candidates), dtype=bool)
    for i, point in enumerate(candidates):
        no_worse = (candidates <= point).all(axis=1)
        better = (candidates < point).any(axis=1)
        on_front[i] = not (no_worse & better).any()
    mask[np.flatnonzero(complete)] = on_front
    return pd.Series(mask, index=frame.index, name="on_front")


def pareto_front(frame: pd.DataFrame, objectives: Mapping[str, Direction]) -> pd.DataFrame:
    """The rows of ``frame`` on the Pareto front, sorted by the first objective (best first)."""
    front = frame[pareto_mask(frame, objectives)]
    first, direction = next(iter(objectives.items()))
    return front.sort_values(first, ascending=direction == "min", kind="stable")


def grouped_pareto_mask(frame: pd.DataFrame, objectives: Mapping[str, Direction], by: Sequence[str]) -> pd.Series:
    """:func:`pareto_mask` computed separately within each group of ``by`` (missing keys form a group)."""
    if not by:
        return pareto_mask(frame, objectives)
    mask = np.zeros(len(frame), dtype=bool)
    if len(frame):
        for positions in frame.groupby(list(by), dropna=False, sort=False).indices.values():
            mask[positions] = pareto_mask(frame.iloc[positions], objectives).to_numpy()
    return pd.Series(mask, index=frame.index, name="on_front")


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Direction]) -> bool:
    """Whether point ``a`` dominates point ``b`` (plain Python; NaN never dominates or is dominated)."""
    if any(np.isnan(x) for x in (*a, *b)):
        return False
    signs = [1.0 if d == "min" else -1.0 for d in directions]
    pa = [s * x for s, x in zip(signs, a)]
    pb = [s * x for s, x in zip(signs, b)]
    return all(x <= y for x, y in zip(pa, pb)) and any(x < y for x, y in zip(pa, pb))


__all__ = ["DIRECTIONS", "Direction", "dominates", "grouped_pareto_mask", "pareto_front", "pareto_mask"]
