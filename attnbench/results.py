"""Results directories: one JSON file per measured point, written atomically; read as a DataFrame.

Layout of a results directory::

    results/
      manifest.json            # {"format": "attnbench-results", "schema_version": 1, ...}
      points/<point_id>.json   # one row of attnbench.schema.COLUMNS per configuration

Each point file is written to a temporary name and renamed into place, so a reader never sees half a
file, an interrupt loses at most the point in flight, and two sweeps writing into one directory can
only replace a point with a complete one. Plain JSON: no pickle, readable for years.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from attnbench.aggregate import aggregate, select_lr  # noqa: F401  (re-exported: attnbench.results.aggregate)
from attnbench.schema import COLUMNS, SCHEMA_VERSION, mistyped

FORMAT = "attnbench-results"
POINTS = "points"


class ResultsError(ValueError):
    """A path that is not a readable results directory."""


TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    # the temporary name starts with the final one's stem, so whoever stops a writer half-way can find
    # and remove its leftover (see tmp_files)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.stem}-", suffix=".json")
    try:
        # mkstemp creates 0600; a results directory is shared data, so files get the umask's usual mode
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; a non-finite figure is recorded as missing
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    return value


class ResultsDir:
    """A results directory being written (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.points = self.path / POINTS
        manifest = self.path / "manifest.json"
        if self.path.exists() and not self.path.is_dir():
            raise ResultsError(f"results path {str(self.path)!r} exists and is not a directory")
        self.points.mkdir(parents=True, exist_ok=True)
        if not manifest.exists():
            from attnbench import __version__

            info = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "created_by": f"attnbench {__version__}"}
            _atomic_write(manifest, json.dumps(info))

    def point_path(self, point_id: str) -> Path:
        """Where the row of ``point_id`` lives."""
        return self.points / f"{point_id}.json"

    def write(self, row: Mapping[str, Any]) -> Path:
        """Store one row atomically (replacing an earlier row of the same point)."""
        point_id = row.get("point_id")
        if not point_id:
            raise ValueError("a result row needs a point_id")
        full = {col: row.get(col) for col in COLUMNS}
        full.update({k: v for k, v in row.items() if k not in full})  # keep extra columns
        full["schema_version"] = full.get("schema_version") or SCHEMA_VERSION
        path = self.point_path(point_id)
        _atomic_write(path, json.dumps(_jsonable(full), sort_keys=True, indent=1))
        return path

    def read(self, point_id: str) -> dict[str, Any] | None:
        """The stored row of ``point_id``, or None if absent or damaged."""
        try:
            row = json.loads(self.point_path(point_id).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None
        return row if _valid(row) and row["point_id"] == point_id else None

    def stored(self) -> dict[str, dict[str, Any]]:
        """Rows already stored, by point id (damaged files are left out)."""
        rows, _, _ = _read_points(self.points)
        return {r["point_id"]: r for r in rows}

    def tmp_files(self, point_id: str) -> list[Path]:
        """Temporary files left by an interrupted write of ``point_id``'s row."""
        return sorted(self.points.glob(f"{TMP_PREFIX}{point_id}-*.json"))


def _valid(row: object) -> bool:
    """Whether a parsed point file is a row this version can read: a point id, a known schema version, and
    every column's value of the kind the schema declares (:func:`attnbench.schema.mistyped`)."""
    if not isinstance(row, dict) or not isinstance(row.get("point_id"), str) or not row["point_id"]:
        return False
    version = row.get("schema_version", SCHEMA_VERSION)
    return type(version) is int and 0 <= version <= SCHEMA_VERSION and mistyped(row) is None


def _read_points(points: Path) -> tuple[list[dict[str, Any]], int, int]:
    """The rows of a points/ folder, one per point id; and how many files were damaged or duplicates.

    A file named after its row's point id wins over a copy of it under another name.
    """
    by_id: dict[str, tuple[bool, dict[str, Any]]] = {}
    damaged = duplicates = 0
    for path in sorted(points.glob("*.json")):
        if path.name.startswith(TMP_PREFIX):
            continue
        try:
            row = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            damaged += 1
            continue
        if not _valid(row):
            damaged += 1
            continue
        own_name = path.stem == row["point_id"]
        if row["point_id"] in by_id:
            duplicates += 1
            if by_id[row["point_id"]][0] or not own_name:
                continue
        by_id[row["point_id"]] = (own_name, row)
    return [row for _, row in by_id.values()], damaged, duplicates


def repeated_note(count: int, path: str | os.PathLike[str], earlier: Iterable[str]) -> str:
    """The warning for ``count`` rows of ``path`` skipped because their point ids were read from ``earlier``
    directories (one row per point id across every directory loaded)."""
    return (
        f"skipped {count} duplicate record(s) in {path} (point ids already read from "
        f"{', '.join(sorted(set(earlier)))}: a copy of those results?)"
    )


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """Every row of one or more results directories as a DataFrame with the schema's columns.

    Damaged point files (unreadable, not a row, or of an unknown schema version) are skipped with one
    warning that counts them; so are extra files holding a point id already read, in the same directory
    or in one loaded before it (one row per point id across every directory: the first read wins), so a
    folder and its copy count each run once. A path that is not a results directory raises
    :class:`ResultsError` naming it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    read_from: dict[str, str] = {}  # point id -> the directory its row was read from
    for raw in paths:
        path = Path(raw)
        points = path / POINTS
        if not points.is_dir():
            raise ResultsError(f"{str(path)!r} is not an attnbench results directory (no {POINTS}/ folder in it)")
        found, damaged, duplicates = _read_points(points)
        if damaged:
            warnings.warn(f"skipped {damaged} damaged record(s) in {path}", stacklevel=2)
        if duplicates:
            warnings.warn(
                f"skipped {duplicates} duplicate record(s) in {path} (point files holding a point id already "
                "read, e.g. a copy under another name)",
                stacklevel=2,
            )
        again = [row for row in found if row["point_id"] in read_from]
        if again:
            warnings.warn(repeated_note(len(again), path, {read_from[row["point_id"]] for row in again}), stacklevel=2)
            found = [row for row in found if row["point_id"] not in read_from]
        for row in found:
            row.setdefault("source", str(path))
            read_from[row["point_id"]] = str(path)
        rows.extend(found)
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[[*COLUMNS, *extra]]
