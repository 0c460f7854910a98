"""The results schema: one tidy row per measured configuration.

Every producer (``attnbench sweep``, the measurement entry point, the asv results reader) writes rows
with exactly these columns, and every consumer (reports, ``attnbench.results.load``) reads them.
A metric that could not be measured is ``None`` and its reason is in the ``missing`` column (a JSON
object ``{metric: reason}``): a missing figure is never 0 and never a guess.

Bump :data:`SCHEMA_VERSION` on any change that is not a pure addition of a column, and document it in
``docs/schema.md``. Readers accept older versions they know how to upgrade.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from attnbench.config import run_columns
from attnbench.metrics import COLUMN_METRICS

# 2: every option that defines a run is a column (optimizer, clip, train_batch, eval_batches, compile, ...),
# and the pairs axis; rows of 1 lack them (read as empty: not recorded)
SCHEMA_VERSION = 2

STATUSES = {
    "ok": "measured",
    "oom": "ran out of memory (device or the host limit the user set)",
    "error": "crashed; see the error column",
    "timeout": "ran past its time limit",
    "skipped": "the combination makes no sense; see the error column for why",
    "diverged": "measured, but the accuracy run's training loss went non-finite: no scores (error says at which step)",
}

# name -> description: what a row records about the run that made it, generated from the declarations of
# attnbench.config (Point, Options and the sweep axes): see attnbench.config.run_columns
CONFIG_COLUMNS: dict[str, str] = {c.name: c.help for c in run_columns()}

# name -> (unit, description), from the one declaration of every metric (attnbench.metrics)
METRIC_COLUMNS: dict[str, tuple[str, str]] = {m.name: (m.unit, m.meaning) for m in COLUMN_METRICS}

STATUS_COLUMNS: dict[str, str] = {
    "status": "one of " + ", ".join(STATUSES),
    "error": "error message, skip reason or the step a diverged run stopped at (empty when ok)",
    "wall_time_s": "wall time of the whole point, start-up included (of its replicate group: see group_size)",
    "group_size": "replicates (seeds x learning rates of one configuration) trained together in the job that "
    "made this row, 1 when trained alone; cost figures are of one model, training seconds of the group",
}

ENV_COLUMNS: dict[str, str] = {
    "schema_version": "version of this schema the row was written with",
    "attnbench_version": "attnbench package version",
    "git_commit": "commit of the attnbench source tree, if it is a git checkout",
    "torch_version": "torch.__version__",
    "cuda_version": "torch.version.cuda (empty on CPU builds)",
    "gpu_name": "CUDA device name",
    "gpu_driver": "NVIDIA driver version (NVML)",
    "cpu_model": "processor model",
    "threads": "torch intra-op threads the process had (the run's request is requested_threads)",
    "python_version": "Python version",
    "platform": "operating system and machine",
    "hostname": "machine name",
    "timestamp": "UTC time the point finished, ISO 8601",
}

COLUMNS: tuple[str, ...] = (*CONFIG_COLUMNS, *METRIC_COLUMNS, *STATUS_COLUMNS, *ENV_COLUMNS)

# What a column holds (null aside), from its declaration: a configuration column that is a Point or
# Options field has its Param's type, a metric its unit's kind (JSON text, bool, a name; any other unit is
# a number); the columns below say theirs. A stored row with a value of another kind is damaged.
UNIT_KINDS = {"JSON": "json", "bool": "bool", "name": "str"}
OTHER_KINDS = {
    **dict.fromkeys(("point_id", "label", "variant", "task", "status", "error"), "str"),
    **dict.fromkeys(("variant_params", "task_params"), "json"),
    **dict.fromkeys(("seq_len", "schema_version", "threads"), "int"),
    **dict.fromkeys(("memory", "top_k"), "scalar"),  # a variant parameter's value: a number, none or a name
    "wall_time_s": "number",
}
_KIND_CHECKS = {
    "int": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "json": lambda v: isinstance(v, str),  # JSON text, never the object itself
    "scalar": lambda v: isinstance(v, (int, float, str)),
}


@functools.cache
def column_kinds() -> dict[str, str]:
    """The kind of value each declared column holds: int, number, bool, str, json (text) or scalar."""
    from attnbench.config import OPTION_FIELDS, POINT_FIELDS

    fields = {**POINT_FIELDS, **OPTION_FIELDS}
    by_type = {int: "int", float: "number", str: "str", bool: "bool"}
    kinds = {name: by_type[fields[name].type] for name in CONFIG_COLUMNS if name in fields}
    kinds |= {name: UNIT_KINDS.get(unit, "number") for name, (unit, _) in METRIC_COLUMNS.items()}
    return {**kinds, **OTHER_KINDS}


def mistyped(row: Mapping[str, Any]) -> str | None:
    """The first column of ``row`` whose value is not null and not of its declared kind (:func:`column_kinds`),
    e.g. ``lr`` "fast" or ``variant_params`` stored as an object; None when every column is as declared."""
    for column, kind in column_kinds().items():
        value = row.get(column)
        if value is not None and not _KIND_CHECKS[kind](value):
            return column
    return None


def empty_row() -> dict[str, Any]:
    """A row with every column present and empty."""
    return dict.fromkeys(COLUMNS)


def schema_markdown() -> str:
    """The schema as the Markdown tables of docs/schema.md."""
    lines = [f"Schema version {SCHEMA_VERSION}.", ""]
    for title, cols in (
        ("Configuration", {k: ("", v) for k, v in CONFIG_COLUMNS.items()}),
        ("Metrics", METRIC_COLUMNS),
        ("Status", {k: ("", v) for k, v in STATUS_COLUMNS.items()}),
        ("Environment", {k: ("", v) for k, v in ENV_COLUMNS.items()}),
    ):
        lines += [f"### {title}", "", "| column | unit | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{k}` | {unit} | {doc} |" for k, (unit, doc) in cols.items()]
        lines.append("")
    return "\n".join(lines)
