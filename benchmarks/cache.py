"""Per-point caching for benchmark classes whose figures come from one measurement per grid point.

asv runs every benchmark method for every parameter combination in a process of its own. A class
whose ``setup_cache`` returns :func:`cache_folder` gets a folder shared by all of those processes
(asv's setup_cache folder, its working directory); :func:`cached` computes a point's figures in the
first process that needs them and the others read them back. Nothing is measured in ``setup_cache``,
so a run filtered with ``-b`` measures only the points it selects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def cache_folder() -> str:
    """The folder of this class's cache: ``setup_cache``'s working directory, which asv keeps for the run."""
    return os.getcwd()


def cached(folder: str, point: Sequence[str], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The figures of ``point``: read from ``folder`` if an earlier process computed them, else computed and stored.

    The file is written under a temporary name and renamed, so an interrupted process leaves no
    half-written figures behind; JSON, so nothing but plain data is ever read back.
    """
    path = Path(folder) / ("-".join(point) + ".json")
    if path.is_file():
        return json.loads(path.read_text())
    row = compute()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(row, default=str))
    os.replace(tmp, path)
    return row
