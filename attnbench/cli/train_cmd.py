"""``attnbench train``: train one variant on one task, report its held-out score, optionally as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnbench.cli._fields import add_fields, given
from attnbench.errors import UsageError
from attnbench.params import ParameterError

if TYPE_CHECKING:  # torch loads only when a command runs, so --help stays quick
    import torch

    from attnbench.config import Options, Point
    from attnbench.training import TrainResult


def parse_assignments(items: list[str] | None, option: str) -> dict[str, str]:
    """``["k_top=5", "k_trunc=10"]`` -> ``{"k_top": "5", "k_trunc": "10"}``; one-line error otherwise."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} k_top=5")
        if name in out:
            raise UsageError(f"{option} {name} given twice")
        out[name] = value.strip()
    return out


def check_json_path(path: str | None) -> None:
    """Fail before a long run, not after it, if the summary could not be written."""
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--json {path}: is a directory; give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"--json {path}: directory {target.parent} does not exist")


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` to ``path`` ("-" for stdout); a one-line error if the file cannot be written."""
    text = json.dumps(payload, indent=2, sort_keys=True)
    if path == "-":
        print(text)
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise UsageError(f"--json {path}: cannot write: {exc.strerror or exc}") from None


def add_configuration_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments that name what runs, shared by ``train`` and ``measure``: variant, task, length,
    variant and task parameters."""
    p.add_argument("--variant", required=True, help="variant name (see 'attnbench list variants')")
    p.add_argument("--task", required=True, help="task name (see 'attnbench list tasks')")
    p.add_argument("--seq-len", type=int, help="the task's sequence-length parameter (copy: the delay T)")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="variant parameter (repeatable)")
    p.add_argument("--task-param", action="append", metavar="NAME=VALUE", help="task parameter (repeatable)")


TRAIN_POINT = ("hidden_size", "seed", "device")
TRAIN_OPTIONS = ("train_steps", "train_batch", "optimizer", "lr", "clip", "eval_batches")
TRAIN_DEFAULTS = {"train_steps": 1000}  # train exists to train


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    from attnbench.config import OPTION_FIELDS, POINT_FIELDS

    p = sub.add_parser(
        "train",
        help="train a variant on a task and report its held-out score",
        description="Train a variant on a task with the released codes' defaults (Adam, lr 1e-3, clip 1.0) "
        "and report the held-out score, chance and transfer scores.",
    )
    add_configuration_arguments(p)
    add_fields(p, POINT_FIELDS, TRAIN_POINT, aliases={"hidden_size": "--hidden"})
    add_fields(p, OPTION_FIELDS, TRAIN_OPTIONS, defaults=TRAIN_DEFAULTS,
               aliases={"train_steps": "--steps", "train_batch": "--batch"})  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="PATH", help="write a machine-readable summary to PATH ('-': stdout)")
    p.set_defaults(func=run)


def point_from_args(args: argparse.Namespace, names: tuple[str, ...]) -> Point:
    """The :class:`~attnbench.config.Point` the configuration arguments and the point flags describe."""
    from attnbench.config import Point

    return Point.make(
        args.variant,
        args.task,
        seq_len=args.seq_len,
        variant_params=parse_assignments(args.param, "--param"),
        task_params=parse_assignments(args.task_param, "--task-param"),
        **given(args, names),
    )


def device_of(point: Point) -> torch.device:
    """The point's device, checked before a long run; the error names --device."""
    try:
        return point.torch_device()
    except ParameterError as exc:
        raise UsageError(f"--device {point.device!r}: {exc}") from None


def summary(point: Point, options: Options, device: torch.device, result: TrainResult) -> dict[str, Any]:
    """The ``--json`` summary: the run's columns as a results row has them (:func:`attnbench.config.
    config_columns`; variant and task parameters as objects), ``device`` where it ran, ``config`` (the
    options and the seed, as before), and the training result."""
    from attnbench.config import config_columns, run_columns

    columns = config_columns(point, options)
    for name in ("variant_params", "task_params"):
        columns[name] = json.loads(columns[name])
    options_columns = [c.name for c in run_columns() if c.field and c.field.startswith("options.")]
    config = {name: columns[name] for name in (*options_columns, "seed")}
    return {**columns, "config": config, "device": str(device), **result.to_dict()}


def run(args: argparse.Namespace) -> int:
    """Train, print a summary line per score, and write the JSON summary if asked."""
    from attnbench.config import Options
    from attnbench.training import train_point

    point = point_from_args(args, TRAIN_POINT)
    options = Options(**given(args, TRAIN_OPTIONS, TRAIN_DEFAULTS))
    task = point.build_task()
    reason = point.skip_reason
    if reason:
        raise UsageError(f"variant {point.variant}: {reason}")
    device = device_of(point)
    check_json_path(args.json)
    result = train_point(point, options, progress=not args.no_progress)
    better = "higher" if result.higher_is_better else "lower"
    lines = [f"{point.variant} on {task.label()}: {result.steps} steps in {result.wall_time_s:.1f} s"]
    if result.diverged_at is not None:
        from attnbench.training import diverged_reason

        lines.append(f"  {diverged_reason(result.diverged_at)}: no held-out score (try a smaller --lr or --clip)")
    else:
        lines += [
            f"  held-out {result.metric} {result.score:.4f} ({better} is better; chance {result.chance:.4f})",
            f"  final training loss {result.final_loss:.4f}",
        ]
    lines += [
        f"  transfer at {task.seq_len_param()}={length}: {result.metric} {score:.4f}"
        for length, score in result.transfer_scores.items()
    ]
    # with --json - stdout carries the JSON alone
    print("\n".join(lines), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        write_json(args.json, summary(point, options, device, result))
    return 0
