"""One tidy table from sweep results directories and asv results folders (pure reading, no measuring).

Every path becomes rows of :data:`attnbench.schema.COLUMNS` plus ``source``; numeric metrics are
floats (NaN where missing), and a few derived columns make plotting simple:

- ``flops_step`` / ``flops_step_analytic``: forward + backward FLOPs of one training step.
- ``series``: the configuration's display name without the sequence length (``label`` or one built
  from variant, memory and top-k).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attnbench import results
from attnbench.errors import UsageError
from attnbench.metrics import DERIVED_METRICS, METRICS, cost_chains
from attnbench.report.asv_reader import is_asv_results, read_asv
from attnbench.schema import COLUMNS, METRIC_COLUMNS

NON_NUMERIC_UNITS = {"JSON", "name", "bool"}
NUMERIC_COLUMNS: tuple[str, ...] = (
    "seq_len",
    "batch",
    "hidden_size",
    "seed",
    "train_steps",
    "lr",
    "target",
    "wall_time_s",
    *(c for c, (unit, _) in METRIC_COLUMNS.items() if unit not in NON_NUMERIC_UNITS),
)
DERIVED_UNITS = {m.name: m.unit for m in DERIVED_METRICS}

# Costs the report plots, each a chain of alternatives: the first one measured for a task is used
# (declared with the metrics, attnbench.metrics).
COSTS: tuple[tuple[str, ...], ...] = cost_chains()
COST_NAMES: dict[str, str] = {m.name: m.cost for m in METRICS if m.cost is not None}


@dataclass
class ResultsTable:
    """The rows of every input and what the reader noticed on the way (damaged files and so on)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _read_one(path: Path, commit: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    if not path.exists():
        raise UsageError(f"{str(path)!r}: no such results directory or asv results folder")
    if (path / results.POINTS).is_dir():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = results.load(path)
        notes = [str(w.message) for w in caught]
        for note in notes:
            warnings.warn(note, stacklevel=3)
        return frame, notes
    if is_asv_results(path):
        frame, notes = read_asv(path, commit)
        for note in notes:
            if note.startswith("skipped"):
                warnings.warn(note, stacklevel=3)
        return frame, notes
    raise UsageError(
        f"{str(path)!r} is neither an attnbench results directory (no points/ folder) "
        "nor an asv results folder (no <machine>/machine.json)"
    )


def _json_or_none(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _higher_is_better(row: pd.Series) -> bool:
    value = row.get("higher_is_better")
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return str(row.get("score_metric") or "accuracy").lower() not in ("mse", "loss", "error")


def _series_name(row: pd.Series) -> str:
    label = row.get("label")
    if isinstance(label, str) and label:
        return label
    extra = [f"{k}={row.get(k)}" for k in ("memory", "top_k") if row.get(k) not in (None, "") and pd.notna(row.get(k))]
    return f"{row.get('variant')}[{','.join(extra)}]" if extra else str(row.get("variant"))


def _task_params(text: Any) -> dict[str, Any]:
    try:
        params = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _with_task_params(frame: pd.DataFrame) -> list[str]:
    """Series names, with the task parameters that differ between rows of one task at one length
    appended (mqar over two numbers of pairs: ``dense (pairs=4)`` and ``dense (pairs=8)`` are two
    series). A parameter that only follows the length (copy's delay) is the length axis, not a name."""
    names = list(frame["series"])
    if not len(frame):
        return names
    params = [_task_params(t) for t in frame["task_params"]]
    lengths = [None if pd.isna(v) else v for v in frame["seq_len"]]
    tasks = list(frame["task"])
    for task in set(tasks):
        rows = [i for i, t in enumerate(tasks) if t == task]
        keys = sorted({k for i in rows for k in params[i]})

        def varies(key: str, rows: list[int] = rows) -> bool:
            seen: dict[Any, set[str]] = {}
            for i in rows:
                seen.setdefault(lengths[i], set()).add(json.dumps(params[i].get(key), sort_keys=True))
            return any(len(values) > 1 for values in seen.values())

        varying = [k for k in keys if varies(k)]
        for i in rows if varying else []:
            shown = ",".join(f"{k}={'none' if params[i].get(k) is None else params[i].get(k)}" for k in varying)
            names[i] = f"{names[i]} ({shown})"
    return names


# run columns a series name already says (the label: variant and its parameters; the task's parameters
# and the length, see _with_task_params) or that the report chooses between (lr, on validation)
_NAMED_ELSEWHERE = {
    "label",
    "variant",
    "variant_params",
    "memory",
    "top_k",
    "task",
    "task_params",
    "seq_len",
    "pairs",
    "lr",
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _with_run_options(frame: pd.DataFrame) -> list[str]:
    """Series names, with every other configuration column aggregate groups on
    (:data:`attnbench.aggregate.GROUP_COLUMNS`) that differs between rows of one task at one length
    appended: runs of 100 and of 300 steps are ``lstm (train_steps=100)`` and ``lstm (train_steps=300)``,
    two series, as aggregate makes them two configurations. A row that does not record a column (asv
    results, rows of schema 1) does not split a name on it."""
    from attnbench.aggregate import GROUP_COLUMNS

    names = list(frame["series"])
    keys = [k for k in GROUP_COLUMNS if k in frame.columns and k not in _NAMED_ELSEWHERE]
    if not len(frame) or not keys:
        return names
    groups = frame.groupby([frame["task"].astype(str), frame["seq_len"].astype(str)], sort=False).indices
    extra: dict[int, list[str]] = {}
    for rows in groups.values():
        for key in keys:
            values = frame[key].iloc[rows]
            known = {json.dumps(v, default=str) for v in values if v is not None and not pd.isna(v)}
            if len(known) < 2:
                continue
            for i, v in zip(rows, values):
                if v is not None and not pd.isna(v):
                    extra.setdefault(int(i), []).append(f"{key}={_shown(v)}")
    return [f"{name} ({','.join(extra[i])})" if i in extra else name for i, name in enumerate(names)]


def _axis_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema columns present, numbers as floats, status and display names filled, derived columns added."""
    frame = frame.copy()
    for col in (*COLUMNS, "source"):
        if col not in frame.columns:
            frame[col] = None
    frame = frame.astype({c: object for c in frame.columns if c not in NUMERIC_COLUMNS})
    for col in NUMERIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["variant"] = [str(v) if v is not None and pd.notna(v) else "unknown" for v in frame["variant"]]
    frame["task"] = [str(v) if v is not None and pd.notna(v) else "(task not recorded)" for v in frame["task"]]
    frame["status"] = [str(s) if isinstance(s, str) and s else "unknown" for s in frame["status"]]
    frame["series"] = [_series_name(row) for _, row in frame.iterrows()] if len(frame) else []
    frame["series"] = _with_task_params(frame)
    frame["series"] = _with_run_options(frame)
    frame["higher_is_better"] = [_higher_is_better(row) for _, row in frame.iterrows()] if len(frame) else []
    frame["score_metric"] = [
        str(m) if isinstance(m, str) and m else "score"
        for m, hib in zip(frame["score_metric"], frame["higher_is_better"])
    ]
    frame["flops_step"] = frame["flops_fwd"] + frame["flops_bwd"]
    frame["flops_step_analytic"] = frame["flops_fwd_analytic"] + frame["flops_bwd_analytic"]
    for col in ("memory", "top_k"):
        frame[col] = pd.Series([_axis_value(v) for v in frame[col]], index=frame.index, dtype=object)
    return frame.reset_index(drop=True)


def load_table(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], commit: str | None = None
) -> ResultsTable:
    """Read every path (results directory or asv results folder) into one :class:`ResultsTable`.

    ``commit`` chooses the commit read from asv results folders (see :func:`read_asv`).

    Raises :class:`UsageError` naming the path for a path that is missing or of neither kind, and
    when there are no rows at all. Damaged files are skipped with a warning and a note.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise UsageError("no results paths given")
    frames, notes = [], []
    read_from: dict[str, str] = {}  # point id -> the path its row came from: one row per id across paths
    for path in paths:
        frame, found = _read_one(path, commit)
        notes.extend(found)
        if not frame.empty and "point_id" in frame:
            again = frame["point_id"].isin(read_from)
            if again.any():
                note = results.repeated_note(int(again.sum()), path, (read_from[i] for i in frame["point_id"][again]))
                warnings.warn(note, stacklevel=2)
                notes.append(note)
                frame = frame[~again]
            read_from.update(dict.fromkeys(frame["point_id"], str(path)))
        if not frame.empty:
            frames.append(frame)
    if not frames:
        raise UsageError(f"no result rows in {', '.join(repr(str(p)) for p in paths)}")
    combined = pd.concat([f.astype(object) for f in frames], ignore_index=True)
    frame = normalise(combined)
    # an ok row is plotted against its length: one without a usable length is skipped, not fatal
    lengthless = (frame["status"] == "ok") & ~np.isfinite(frame["seq_len"])
    if lengthless.any():
        note = f"skipped {int(lengthless.sum())} ok row(s) without a numeric seq_len"
        warnings.warn(note, stacklevel=2)
        notes.append(note)
        frame = frame[~lengthless].reset_index(drop=True)
    return ResultsTable(frame, notes, [str(p) for p in paths])


def grad_reach_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Long table of gradient reach: one row per (point, distance) with ``norm``, from ``ok`` rows."""
    cols = ["task", "variant", "series", "seq_len", "distance", "norm"]
    records = []
    for _, row in frame[frame["status"] == "ok"].iterrows():
        pairs = _json_or_none(row.get("grad_reach"))
        if not isinstance(pairs, list):
            continue
        for pair in pairs:
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, (int, float)) for v in pair):
                records.append([row["task"], row["variant"], row["series"], row["seq_len"], *map(float, pair)])
    return pd.DataFrame.from_records(records, columns=cols)


def status_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Points per task and status (tasks as rows, statuses as columns)."""
    if frame.empty:
        return pd.DataFrame()
    return frame.groupby(["task", "status"]).size().unstack(fill_value=0)


def score_of(frame: pd.DataFrame) -> tuple[str, bool]:
    """The score's name and direction in ``frame`` (taken from the rows that have a score)."""
    scored = frame[frame["score"].notna()] if "score" in frame else frame.iloc[:0]
    if scored.empty:
        return "score", True
    return str(scored["score_metric"].iloc[0]), bool(scored["higher_is_better"].iloc[0])


def chosen_costs(frame: pd.DataFrame) -> list[str]:
    """The first measured column of each :data:`COSTS` chain (among ``ok`` rows of ``frame``)."""
    ok = frame[frame["status"] == "ok"]
    chosen = []
    for chain in COSTS:
        for col in chain:
            if col in ok and pd.to_numeric(ok[col], errors="coerce").gt(0).any():
                chosen.append(col)
                break
    return chosen


def axis_label(column: str) -> str:
    """A column's readable name with its unit, e.g. ``training-step time (s)``."""
    unit = unit_of(column)
    return f"{COST_NAMES.get(column, column)} ({unit})" if unit else COST_NAMES.get(column, column)


_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_value(value: Any, unit: str = "") -> str:
    """A number for a table: three significant digits with a readable prefix; '–' when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–" if value is None else str(value)
    if not np.isfinite(v):
        return "–"
    if unit == "bytes":  # SI prefixes, like the figures' axes
        for size, prefix in _PREFIXES:
            if abs(v) >= size:
                return f"{v / size:.3g} {prefix}B"
        return f"{v:.0f} B"
    if unit == "s":
        for size, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(v) >= size:
                return f"{v / size:.3g} {name}"
        return f"{v:.3g} s"
    if unit in ("FLOP", "J", "W", "FLOP/s"):
        for size, prefix in _PREFIXES:
            if abs(v) >= size:
                return f"{v / size:.3g} {prefix}{unit}"
        return f"{v:.3g} {unit}"
    return f"{v:.3g}"


def unit_of(column: str) -> str:
    """The unit of a metric column (schema or derived), '' if it has none."""
    if column in DERIVED_UNITS:
        return DERIVED_UNITS[column]
    return METRIC_COLUMNS.get(column, ("", ""))[0]


__all__ = [
    "COSTS",
    "ResultsTable",
    "axis_label",
    "chosen_costs",
    "format_value",
    "grad_reach_table",
    "load_table",
    "normalise",
    "score_of",
    "status_counts",
    "unit_of",
]
