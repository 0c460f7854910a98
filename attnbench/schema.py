"""The results schema: one tidy row per measured configuration.

Every producer (``attnbench sweep``, the measurement entry point, the asv results reader) writes rows
with exactly these columns, and every consumer (reports, ``attnbench.results.load``) reads them.
A metric that could not be measured is ``None`` and its reason is in the ``missing`` column (a JSON
object ``{metric: reason}``): a missing figure is never 0 and never a guess.

Bump :data:`SCHEMA_VERSION` on any change that is not a pure addition of a column, and document it in
``docs/schema.md``. Readers accept older versions they know how to upgrade.
"""

from __future__ import annotations

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
}

# name -> description: what a row records about the run that made it, generated from the declarations of
# attnbench.config (Point, Options and the sweep axes): see attnbench.config.run_columns
CONFIG_COLUMNS: dict[str, str] = {c.name: c.help for c in run_columns()}

# name -> (unit, description), from the one declaration of every metric (attnbench.metrics)
METRIC_COLUMNS: dict[str, tuple[str, str]] = {m.name: (m.unit, m.meaning) for m in COLUMN_METRICS}

STATUS_COLUMNS: dict[str, str] = {
    "status": "one of " + ", ".join(STATUSES),
    "error": "error message or skip reason (empty when ok)",
    "wall_time_s": "wall time of the whole point, start-up included",
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
