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

SCHEMA_VERSION = 1

STATUSES = {
    "ok": "measured",
    "oom": "ran out of memory (device or the host limit the user set)",
    "error": "crashed; see the error column",
    "timeout": "ran past its time limit",
    "skipped": "the combination makes no sense; see the error column for why",
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
}

# name -> (unit, description)
METRIC_COLUMNS: dict[str, tuple[str, str]] = {
    "fwd_time_s": ("s", "median wall time of a forward pass (device-synchronised)"),
    "fwd_time_iqr_s": ("s", "interquartile range of the forward-pass samples"),
    "fwd_time_n": ("count", "number of timed forward passes"),
    "fwd_time_noisy": ("bool", "forward IQR/median above 10%"),
    "step_time_s": ("s", "median wall time of a training step: forward, loss, backward"),
    "step_time_iqr_s": ("s", "interquartile range of the training-step samples"),
    "step_time_n": ("count", "number of timed training steps"),
    "step_time_noisy": ("bool", "training-step IQR/median above 10%"),
    "tokens_per_s": ("1/s", "batch * seq_len / step_time_s"),
    "saved_bytes": ("bytes", "bytes autograd keeps for backward (saved-tensor hooks, distinct storages)"),
    "rss_peak_bytes": ("bytes", "peak resident set size of the measuring process (psutil)"),
    "cuda_peak_allocated_bytes": ("bytes", "torch.cuda.max_memory_allocated over a training step"),
    "cuda_peak_reserved_bytes": ("bytes", "torch.cuda.max_memory_reserved over a training step"),
    "nvml_used_bytes": ("bytes", "device memory in use per NVML after a training step (context and cache included)"),
    "flops_fwd": ("FLOP", "matrix-multiply FLOPs of a forward pass, counted (torch FlopCounterMode + fused RNN ops)"),
    "flops_bwd": ("FLOP", "matrix-multiply FLOPs of a backward pass, counted"),
    "flops_fwd_analytic": ("FLOP", "forward FLOPs from the variant's analytic formula"),
    "flops_bwd_analytic": ("FLOP", "backward FLOPs from the variant's analytic formula"),
    "flops_per_s": ("FLOP/s", "(flops_fwd + flops_bwd) / step_time_s"),
    "matmul_flops_per_s": ("FLOP/s", "the machine's own matrix-multiply rate, measured once per run"),
    "peak_fraction": ("ratio", "flops_per_s / matmul_flops_per_s"),
    "energy_j": ("J", "device energy per training step (NVML total-energy counter)"),
    "power_w": ("W", "average device power over the energy window"),
    "score": ("task metric", "task score on held-out batches after training (see score_metric)"),
    "score_metric": ("name", "what score is: accuracy (higher is better) or mse (lower is better)"),
    "higher_is_better": ("bool", "direction of score"),
    "chance": ("task metric", "score of a predictor that ignores the input"),
    "final_loss": ("task loss", "training loss at the end of the accuracy run"),
    "train_time_s": ("s", "wall time of the accuracy run"),
    "transfer_scores": ("JSON", "{evaluation length: score} for transfer tasks"),
    "grad_reach": ("JSON", "[[distance, norm], ...]: |d loss_T / d h_(T-1-distance)|, mean over the batch"),
    "missing": ("JSON", "{metric: reason} for every metric that could not be measured"),
}

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
