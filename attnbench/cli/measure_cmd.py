"""``attnbench measure``: every figure of one configuration (time, memory, FLOPs, energy, accuracy,
gradient reach) from one built model, printed as a summary and optionally written as a result row."""

from __future__ import annotations

import argparse
import json
import resource
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnbench.cli._fields import add_fields, given
from attnbench.cli.train_cmd import add_configuration_arguments, check_json_path, device_of, point_from_args, write_json
from attnbench.errors import UsageError
from attnbench.metrics import COLUMN_METRICS

if TYPE_CHECKING:
    from attnbench.config import Point

MEASURE_POINT = ("batch", "hidden_size", "seed", "device", "dtype")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``measure`` subcommand."""
    from attnbench.config import OPTION_FIELDS, POINT_FIELDS

    p = sub.add_parser(
        "measure",
        help="measure time, memory, FLOPs, energy, accuracy and gradient reach of one configuration",
        description="Build one variant on one task once and measure it: forward and training-step time, "
        "saved-for-backward bytes, peak memory, counted and analytic FLOPs, GPU energy, optionally an "
        "accuracy run, and gradient reach. Figures that cannot be had here are listed as missing.",
    )
    add_configuration_arguments(p)
    add_fields(p, POINT_FIELDS, MEASURE_POINT, aliases={"hidden_size": "--hidden"})
    add_fields(p.add_argument_group("how (every option a sweep can set)"), OPTION_FIELDS,
               [n for n in OPTION_FIELDS if n != "threads"])  # fmt: skip
    p.add_argument("--json", metavar="PATH", help="write the result row to PATH ('-': stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure and print the summary; write the row if asked."""
    from attnbench.config import OPTION_FIELDS, Options, resolved_target
    from attnbench.measure import measure

    check_json_path(args.json)
    point = point_from_args(args, MEASURE_POINT)
    options = Options(**given(args, OPTION_FIELDS))
    resolved_target(point, options)  # a target the task's metric cannot take: refused before measuring
    device_of(point)
    _check_fits(point)
    old_limit = resource.getrlimit(resource.RLIMIT_DATA)
    guard_host_memory(point.device)
    try:
        row = measure(point, options)
    except Exception as exc:
        from attnbench.sweep.worker import is_oom

        if not is_oom(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"attnbench: error: out of memory measuring batch {point.batch} on {point.device} ({first}); "
            "lower --batch, --seq-len or --hidden",
            file=sys.stderr,
        )
        return 1
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, old_limit)
    if args.json != "-":
        print(summary(row))
    if args.json:
        write_json(args.json, row)
    return 0


# ----- memory: refuse what cannot fit, and fail an allocation instead of meeting the kernel's OOM killer --


def _meminfo(field: str) -> int | None:
    try:
        for line in Path("/proc/meminfo" if field == "MemAvailable" else "/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _available_bytes(device: str) -> int | None:
    """Memory free for the measurement on ``device`` (host: MemAvailable; CUDA: free device memory)."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except Exception:  # no such device: measure() says so in its own words
            return None
    return _meminfo("MemAvailable")


def least_bytes(point: Point) -> int | None:
    """A lower bound of the memory one measurement of ``point`` needs: its input, its outputs and one
    hidden state per step for the batch (every variant keeps at least these); None if unknown here."""
    try:
        task = point.build_task()
        itemsize = point.torch_dtype().itemsize
    except Exception:  # a bad configuration: measure() reports it
        return None
    per_step = task.input_size + task.output_size + point.hidden_size
    return int(point.batch) * int(task.seq_len) * per_step * itemsize


def _check_fits(point: Point) -> None:
    need, available = least_bytes(point), _available_bytes(point.device)
    if need is not None and available is not None and need > available:
        raise UsageError(
            f"batch {point.batch} needs at least {need / 2**30:,.1f} GiB on {point.device} (inputs, outputs and "
            f"a hidden state per step), more than the {available / 2**30:,.1f} GiB available; "
            "lower --batch, --seq-len or --hidden"
        )


def guard_host_memory(device: str) -> None:
    """Cap this process's data segment at what it uses plus what the host has free, as a sweep's
    --max-memory does for its workers: past it an allocation fails (reported as out of memory) instead of
    the kernel killing the process without a word."""
    if device.startswith("cuda"):
        return  # the device's own allocator reports running out; the driver's mappings must not be capped
    from attnbench.sweep.worker import limit_memory

    used, available = _meminfo("VmData"), _meminfo("MemAvailable")
    if used is not None and available is not None:
        limit_memory(used + available)


# ----- the summary ------------------------------------------------------------------------------

# Metrics the summary lays out by hand; every other declared metric gets a line of its own.
LAID_OUT = {
    *(f"{p}_{s}" for p in ("fwd_time", "step_time") for s in ("s", "iqr_s", "n", "noisy")),
    "tokens_per_s", "saved_bytes", "rss_peak_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes",
    "nvml_used_bytes", "flops_fwd", "flops_bwd", "flops_fwd_analytic", "flops_bwd_analytic", "flops_per_s",
    "peak_fraction", "matmul_flops_per_s", "energy_j", "power_w", "score", "chance", "final_loss", "train_time_s",
}  # fmt: skip


def _si(value: float | None, unit: str) -> str:
    if value is None:
        return "missing"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _time(row: dict[str, Any], prefix: str) -> str:
    text = f"{_si(row[f'{prefix}_s'], 's')} median (IQR {_si(row[f'{prefix}_iqr_s'], 's')}, n={row[f'{prefix}_n']})"
    return text + ("  NOISY: IQR > 10% of median" if row[f"{prefix}_noisy"] else "")


def _task_label(row: dict[str, Any]) -> str:
    items = ",".join(f"{k}={v}" for k, v in sorted((row["task_params"] or {}).items()))
    return f"{row['task']}[{items}]" if items else str(row["task"])


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def summary(row: dict[str, Any]) -> str:
    """A human-readable account of one result row (JSON columns as text or decoded)."""
    row = {**row, **{k: _decoded(row.get(k)) for k in ("task_params", "transfer_scores", "grad_reach", "missing")}}
    head = (
        f"{row['label']} on {_task_label(row)}: T={row['seq_len']}, batch {row['batch']}, "
        f"hidden {row['hidden_size']}, {row['device']} {row['dtype']}"
    )
    if row["status"] != "ok":
        return f"{head}\n  {row['status']}: {row['error']}"
    lines = [
        head,
        f"  forward      {_time(row, 'fwd_time')}",
        f"  train step   {_time(row, 'step_time')}; {_si(row['tokens_per_s'], 'tokens/s')}",
        f"  saved        {_si(row['saved_bytes'], 'B')} for backward; peak RSS {_si(row['rss_peak_bytes'], 'B')}",
    ]
    if row["cuda_peak_allocated_bytes"] is not None:
        lines.append(
            f"  CUDA         peak allocated {_si(row['cuda_peak_allocated_bytes'], 'B')}, reserved "
            f"{_si(row['cuda_peak_reserved_bytes'], 'B')}; NVML in use {_si(row['nvml_used_bytes'], 'B')}"
        )
    lines.append(
        f"  FLOPs        forward {_si(row['flops_fwd'], 'FLOP')} (analytic {_si(row['flops_fwd_analytic'], 'FLOP')}), "
        f"backward {_si(row['flops_bwd'], 'FLOP')} (analytic {_si(row['flops_bwd_analytic'], 'FLOP')})"
    )
    fraction = "missing" if row["peak_fraction"] is None else f"{row['peak_fraction']:.3g}"
    lines.append(
        f"  rate         {_si(row['flops_per_s'], 'FLOP/s')} = {fraction} x this machine's matmul rate "
        f"{_si(row['matmul_flops_per_s'], 'FLOP/s')}"
    )
    if row["energy_j"] is not None:
        lines.append(f"  energy       {_si(row['energy_j'], 'J')} per step at {_si(row['power_w'], 'W')}")
    if row["score"] is not None:
        better = "higher" if row["higher_is_better"] else "lower"
        lines.append(
            f"  score        {row['score_metric']} {row['score']:.4f} ({better} is better; chance "
            f"{row['chance']:.4f}); final loss {row['final_loss']:.4f}; {row['train_time_s']:.1f} s"
        )
        for length, score in (row["transfer_scores"] or {}).items():
            lines.append(f"  transfer     at {length}: {score:.4f}")
    if row["grad_reach"] is not None:
        reach = ", ".join(f"{d}: {norm:.2e}" for d, norm in row["grad_reach"])
        lines.append(f"  grad reach   |dL_T/dh_(T-1-d)| at d = {reach}")
    for metric in COLUMN_METRICS:  # a declared metric the lines above do not lay out: name, value, unit
        value = row.get(metric.name)
        if metric.name not in LAID_OUT and metric.unit not in ("JSON", "name", "bool") and value is not None:
            lines.append(f"  {metric.name:<12} {_si(value, metric.unit)} ({metric.meaning})")
    by_reason: dict[str, list[str]] = defaultdict(list)
    for column, reason in (row["missing"] or {}).items():
        by_reason[reason].append(column)
    if by_reason:
        lines.append("  missing:")
        lines.extend(f"    {', '.join(cols)}: {reason}" for reason, cols in by_reason.items())
    return "\n".join(lines)


__all__ = ["UsageError", "register", "run", "summary"]
