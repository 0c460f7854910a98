"""``attnbench train``: train one variant on one task, report its held-out score, optionally as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnbench.errors import UsageError

if TYPE_CHECKING:  # torch loads only when a command runs, so --help stays quick
    import torch

    from attnbench.tasks.base import Task


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


def resolve_device(text: str) -> torch.device:
    """A torch device that exists here; one-line :class:`UsageError` otherwise."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {text!r}: not a torch device; expected e.g. cpu or cuda:0") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {text!r}: no CUDA device is available here")
    return device


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


def add_configuration_arguments(p: argparse.ArgumentParser, seed: int) -> None:
    """The arguments that name what runs, shared by ``train`` and ``measure``: variant, task, length,
    variant and task parameters, seed."""
    p.add_argument("--variant", required=True, help="variant name (see 'attnbench list variants')")
    p.add_argument("--task", required=True, help="task name (see 'attnbench list tasks')")
    p.add_argument("--seq-len", type=int, help="the task's sequence-length parameter (copy: the delay T)")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="variant parameter (repeatable)")
    p.add_argument("--task-param", action="append", metavar="NAME=VALUE", help="task parameter (repeatable)")
    p.add_argument("--seed", type=int, default=seed, help="seed of data and initialisation (default %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    from attnbench.training import OPTIMIZERS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a variant on a task and report its held-out score",
        description="Train a variant on a task with the released codes' defaults (Adam, lr 1e-3, clip 1.0) "
        "and report the held-out score, chance and transfer scores.",
    )
    add_configuration_arguments(p, seed=d.seed)
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps (default %(default)s)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch size (default %(default)s)")
    p.add_argument("--hidden", type=int, default=128, help="hidden size H (default %(default)s)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clip, 0 for none (default %(default)s)")
    p.add_argument("--eval-batches", type=int, default=d.eval_batches, help="held-out batches (default %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="PATH", help="write a machine-readable summary to PATH ('-': stdout)")
    p.set_defaults(func=run)


def build_task_from_args(name: str, seq_len: int | None, items: list[str] | None) -> Task:
    """The task named ``name`` with ``--task-param`` values and ``--seq-len`` applied."""
    from attnbench.tasks import get_task

    cls = get_task(name)
    params: dict[str, Any] = parse_assignments(items, "--task-param")
    if seq_len is not None:
        length_param = cls.seq_len_param()
        if length_param is None:
            raise UsageError(f"--seq-len: task {name!r} has no sequence-length parameter; its length is fixed")
        if length_param in params:
            raise UsageError(f"--seq-len and --task-param {length_param}=... both set the length; give one")
        params[length_param] = seq_len
    return cls(**params)


def run(args: argparse.Namespace) -> int:
    """Train, print a summary line per score, and write the JSON summary if asked."""
    from attnbench.training import TrainConfig, build_model, train
    from attnbench.variants import get_variant

    task = build_task_from_args(args.task, args.seq_len, args.task_param)
    cls = get_variant(args.variant)
    vparams = cls.resolve(parse_assignments(args.param, "--param"))
    reason = cls.skip(task.seq_len, **vparams)
    if reason:
        raise UsageError(f"variant {args.variant}: {reason}")
    config = TrainConfig(
        steps=args.steps,
        batch=args.batch,
        optimizer=args.optimizer,
        lr=args.lr,
        clip=args.clip,
        eval_batches=args.eval_batches,
        seed=args.seed,
        progress=not args.no_progress,
    )
    device = resolve_device(args.device)
    check_json_path(args.json)
    model = build_model(args.variant, task, args.hidden, args.seed, **vparams)
    result = train(model, task, config, device)
    better = "higher" if result.higher_is_better else "lower"
    lines = [
        f"{args.variant} on {task.label()}: {result.steps} steps in {result.wall_time_s:.1f} s",
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
        payload = {
            "variant": args.variant,
            "variant_params": vparams,
            "hidden_size": args.hidden,
            "task": task.name,
            "task_params": task.config,
            "seq_len": task.seq_len,
            "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
            "device": str(device),
            **result.to_dict(),
        }
        write_json(args.json, payload)
    return 0
