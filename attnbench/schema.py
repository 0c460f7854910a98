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

from attnbench.metrics import COLUMN_METRICS

SCHEMA_VERSION = 1

STATUSES = {
    "ok": "measured",
    "oom": "ran out of memory (device or the host limit the user set)",
    "error": "crashed; see the error column",
    "timeout": "ran past its time limit",
    "skipped": "the combination makes no sense; see the error column for why",
    "diverged": "measured, but the accuracy run's training loss went non-finite: no scores (error says at which step)",
}

# name -> description
CONFIG_COLUMNS: dict[str, str] = {
    "point_id": "stable key of the configuration and attnbench version (resume skips stored ids)",
    "label": "deterministic display name, e.g. sab[k_att=10,k_top=5]",
    "variant": "registered variant name",
    "variant_params": "JSON object of every variant parameter, defaults filled in",
    "task": "registered task name",
    "task_params": "JSON object of every task parameter, defaults filled in",
    "seq_len": "total input length T fed to the variant",
    "memory": "value of the variant's memory-size parameter (empty if it has none)",
    "top_k": "value of the variant's top-k parameter (empty if it has none)",
    "batch": "batch size B",
    "hidden_size": "recurrent state size H",
    "device": "torch device the point ran on, e.g. cpu or cuda:0",
    "dtype": "floating-point type of parameters and inputs, e.g. float32",
    "seed": "random seed of data and initialisation",
    "train_steps": "optimiser steps of the accuracy run (0: accuracy not measured)",
    "lr": "learning rate of the accuracy run (a sweep axis: `lrs`); empty in rows written before it was recorded",
    "target": "score that counts as solved (the task's declared target unless the sweep set one)",
}

# name -> (unit, description), from the one declaration of every metric (attnbench.metrics)
METRIC_COLUMNS: dict[str, tuple[str, str]] = {m.name: (m.unit, m.meaning) for m in COLUMN_METRICS}

STATUS_COLUMNS: dict[str, str] = {
    "status": "one of " + ", ".join(STATUSES),
    "error": "error message, skip reason or the step a diverged run stopped at (empty when ok)",
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
    "threads": "torch intra-op threads",
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
