"""``attnbench sweep``: run a grid of configurations from a spec file, a preset and/or flags."""

from __future__ import annotations

import argparse
import errno
import itertools
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnbench.cli._fields import add_fields, given
from attnbench.config import OPTION_FIELDS
from attnbench.errors import UsageError
from attnbench.params import AXES, AXIS_HELP

if TYPE_CHECKING:
    import pandas as pd

    from attnbench.sweep.expand import Jobs

# Flags for every point setting, option and execution setting a spec file can hold (same names).
SETTINGS = ("batch", "hidden_size", "device", "dtype", *OPTION_FIELDS, "timeout_s", "max_memory", "workers")
SETTINGS += ("group_size",)
ALIASES = {"hidden_size": "--hidden", "timeout_s": "--timeout"}
CONFIRM_POINTS = 5000  # a sweep with more points to run than this asks for --yes
DRY_RUN_ROWS = 200  # rows of the dry run's table printed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    p = sub.add_parser("sweep", help="measure a grid of configurations; every point in its own process")
    p.add_argument("spec", nargs="?", help="sweep spec file (.toml, .yaml); flags override its settings")
    p.add_argument(
        "--preset",
        help="built-in spec: quick (minutes on a laptop CPU; the default when neither a spec nor a grid flag is "
        "given: grid flags alone start from the declared defaults), paper (GPU runners), plugin-smoke (a plugin's "
        "check: add --variants lstm,YOURS)",
    )
    p.add_argument("--out", "-o", help="results directory (default: results/<preset or spec name>)")
    p.add_argument("--resume", action="store_true", help="skip points already stored in --out")
    p.add_argument("--retry-failed", action="store_true", help="with --resume, run error and timeout points again")
    p.add_argument("--dry-run", action="store_true", help="list the points and their estimated cost, run nothing")
    p.add_argument("--yes", action="store_true", help=f"run a sweep of more than {CONFIRM_POINTS:,} points")
    g = p.add_argument_group("grid (override the spec)")
    g.add_argument("--variants", help="comma-separated variant names")
    g.add_argument("--tasks", help="comma-separated task names")
    for axis in AXES:  # one flag per declared sweep axis: --seq-len, --memory, --top-k, --pairs
        g.add_argument(f"--{axis.replace('_', '-')}", help=f"comma-separated values of the {AXIS_HELP[axis]} axis")
    g.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="VARIANT.NAME=V1,V2",
        help="fix or sweep another variant parameter, e.g. sab.k_att=5 or lstm.k_trunc=none,10",
    )
    g.add_argument("--task-param", action="append", default=[], metavar="TASK.NAME=V1,V2")
    g.add_argument("--seeds", help="comma-separated seeds")
    g.add_argument("--lrs", help="comma-separated learning rates (chosen per configuration on validation)")
    from attnbench.sweep.spec import EXECUTION, POINT_SETTINGS

    m = p.add_argument_group("every point's settings and how it is measured (override the spec)")
    add_fields(m, {**POINT_SETTINGS, **OPTION_FIELDS, **EXECUTION}, SETTINGS, aliases=ALIASES, show_defaults=False)
    add_execution_arguments(p)
    p.set_defaults(func=run)


def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of where points run (--executor, Slurm's) and --no-progress: ``sweep``'s and ``reproduce``'s."""
    e = p.add_argument_group("execution")
    e.add_argument("--executor", default="process", help="process (default), local (submitit) or slurm (submitit)")
    e.add_argument("--partition", help="slurm partition")
    e.add_argument("--gpus", type=int, help="slurm GPUs per job")
    e.add_argument("--cpus", type=int, help="slurm CPUs per job")
    e.add_argument("--mem-gb", type=int, help="slurm memory per job (GB)")
    e.add_argument("--parallel", type=int, help="slurm: at most this many jobs of the array at once")
    e.add_argument(
        "--no-wait",
        action="store_true",
        help="slurm: submit and return (job ids kept in --out); rerun with --resume to collect, not resubmit",
    )
    e.add_argument(
        "--no-progress", action="store_true", help="no progress bar, and no time estimate before the first point"
    )


def _list(text: str, kind: type = str) -> list[Any]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(f"empty value in {text!r}; expected comma-separated values")
        if kind is int:
            try:
                out.append(int(item))
            except ValueError:
                raise UsageError(f"{item!r} in {text!r} is not an integer") from None
        else:
            out.append(_scalar(item))
    return out


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _params(items: list[str], flag: str) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for item in items:
        owner_name, sep, values = item.partition("=")
        owner, dot, name = owner_name.partition(".")
        if not (sep and dot and owner and name and values):
            raise UsageError(f"{flag} {item!r}: expected OWNER.NAME=VALUE[,VALUE...], e.g. sab.k_att=5")
        vals = _list(values)
        table.setdefault(owner, {})[name] = vals if len(vals) > 1 else vals[0]
    return table


def _axis_kind(axis: str) -> type:
    """int where every parameter of a registered variant or task on ``axis`` is an integer that takes no
    none (lengths): a value that is not one is refused as such; str (numbers parsed) otherwise."""
    from attnbench.tasks import get_task, list_tasks
    from attnbench.variants import get_variant, list_variants

    classes = [*(get_variant(n) for n in list_variants()), *(get_task(n) for n in list_tasks())]
    params = [p for cls in classes for p in cls.params if p.axis == axis]
    return int if params and all(p.type is int and p.none_means is None for p in params) else str


# the flags that say what runs: given without a spec or --preset, the sweep starts from the declarations'
# defaults (not from the quick preset's variant parameters, seeds and options)
GRID_FLAGS = ("variants", "tasks", *AXES, "param", "task_param", "seeds", "lrs")
DEFAULTS_NAME = "sweep"  # --out's default name of a sweep from flags alone


def base_of(args: argparse.Namespace) -> str:
    """What the sweep starts from, before its flags: a spec file, a preset, or the declared defaults."""
    if args.spec:
        return f"spec {args.spec}"
    if args.preset:
        return f"preset {args.preset}"
    if any(getattr(args, flag, None) for flag in GRID_FLAGS):
        return (
            "the declared defaults (no spec or --preset: every variant and task parameter, seed and option not "
            "given is its default, see attnbench list)"
        )
    return "preset quick (the default without a spec, --preset or grid flags)"


def build_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """The spec from the file or preset, overridden by flags; and a default name for --out."""
    from attnbench.sweep import load_file, load_preset

    if args.spec and args.preset:
        raise UsageError("give a spec file or --preset, not both")
    from attnbench.sweep import SweepSpec

    if args.spec:
        spec, name = load_file(args.spec), Path(args.spec).stem
    elif args.preset or not any(getattr(args, flag, None) for flag in GRID_FLAGS):
        name = args.preset or "quick"
        spec = load_preset(name)
    else:  # flags alone: what they say, and the declarations' defaults for the rest
        spec, name = SweepSpec(), DEFAULTS_NAME
    changes: dict[str, Any] = {}
    # narrowing the variants or tasks on the command line drops the spec's settings for the others
    if args.variants:
        changes["variants"] = _list(args.variants)
        changes["variant_params"] = {k: v for k, v in spec.variant_params.items() if k in changes["variants"]}
    if args.tasks:
        changes["tasks"] = _list(args.tasks)
        changes["task_params"] = {k: v for k, v in spec.task_params.items() if k in changes["tasks"]}
    if args.seeds:
        changes["seeds"] = _list(args.seeds, int)
    if args.lrs:
        changes["lrs"] = _list(args.lrs, float)
    axes = dict(spec.axes)
    for axis in AXES:
        text = getattr(args, axis)
        if text:
            axes[axis] = _list(text, _axis_kind(axis))
    changes["axes"] = axes
    for flag, table in (("--param", "variant_params"), ("--task-param", "task_params")):
        extra = _params(getattr(args, flag[2:].replace("-", "_")), flag)
        if extra:
            merged = {k: dict(v) for k, v in changes.get(table, getattr(spec, table)).items()}
            for owner, values in extra.items():
                merged.setdefault(owner, {}).update(values)
            changes[table] = merged
    changes.update(given(args, SETTINGS))
    return spec.replace(**changes), name


EXECUTORS = ("process", "local", "slurm")
# the flags only the Slurm executor reads (dest -> flag)
SLURM_FLAGS = {
    "partition": "--partition",
    "gpus": "--gpus",
    "cpus": "--cpus",
    "mem_gb": "--mem-gb",
    "parallel": "--parallel",
    "no_wait": "--no-wait",
}
# what a full disk, a read-only or foreign folder, or a file in the way says when a row is stored
STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
    errno.ENOTDIR,
    errno.EEXIST,
}


def check_executor(args: argparse.Namespace) -> None:
    """The executor is one attnbench has, and no Slurm flag is given to another (it would be ignored)."""
    if args.executor not in EXECUTORS:
        raise UsageError(f"unknown executor {args.executor!r}; expected {', '.join(EXECUTORS)}")
    if args.executor != "slurm":
        slurm_only = [flag for dest, flag in SLURM_FLAGS.items() if getattr(args, dest, None) not in (None, False)]
        if slurm_only:
            raise UsageError(
                f"{', '.join(slurm_only)} only apply with --executor slurm (this sweep's executor is "
                f"{args.executor!r}); add --executor slurm or leave {'them' if len(slurm_only) > 1 else 'it'} out"
            )


def check_writable(out: Path) -> None:
    """Create ``out`` and store (and remove) a file in it, so a folder that cannot hold results is one line
    before any point is measured, not a traceback after the first one."""
    points = out / "points"
    try:
        points.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=points, prefix=".tmp-probe-")  # load() skips .tmp-* files
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
        why = f"{str(blocker)!r} is a file" if blocker is not None else (exc.strerror or str(exc))
        raise UsageError(f"--out {str(out)!r} cannot hold results: {why}; choose a writable directory") from None


def check_tasks(jobs: Jobs) -> None:
    """Build each distinct task configuration of ``jobs`` once (no job is built): a task that cannot be built
    here (mnist without its ``path``, or a path without the files) is one line now, not an error row for
    every point."""
    from attnbench.errors import USER_ERRORS
    from attnbench.tasks import build_task

    built: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
    for block in jobs.blocks:
        for task_params in block.task_configs:
            key = (block.task, task_params)
            if key in built:
                continue
            built.add(key)
            try:
                build_task(block.task, **dict(task_params))
            except USER_ERRORS:
                raise
            except Exception:  # anything else is the point's own failure, stored with it as an error row
                pass


def _stored_count(out: Path) -> int:
    return sum(1 for p in (out / "points").glob("*.json") if not p.name.startswith(".tmp-"))


def execute(
    args: argparse.Namespace, spec: Any, out: Path, the_plan: Any, first_line: str | None = None
) -> pd.DataFrame | None:
    """Run ``the_plan``'s points into ``out`` with the executor ``args`` names (``sweep``'s and ``reproduce``'s
    execution); the frame of the rows this run stored, or None when interrupted (Ctrl-C, SIGTERM: said on
    stderr). A results folder that cannot hold a row is a :class:`UsageError`."""
    from attnbench.sweep import make_executor
    from attnbench.sweep import run as run_points
    from attnbench.sweep.runner import eta_text
    from attnbench.sweep.supervise import sigterm_as_interrupt

    todo = the_plan.todo
    slurm = {
        k: v
        for k, v in {
            "partition": args.partition,
            "gpus_per_node": args.gpus,
            "cpus_per_task": args.cpus,
            "mem_gb": args.mem_gb,
            "array_parallelism": args.parallel,
        }.items()
        if v is not None
    }
    executor = make_executor(args.executor, spec, out, slurm, wait=not args.no_wait)
    check_writable(out)
    if first_line and not args.no_progress:  # the run's first line (--no-progress: nothing before the summary)
        print(first_line, file=sys.stderr)
    try:
        with sigterm_as_interrupt():  # `timeout` and schedulers stop a sweep with SIGTERM: same as Ctrl-C
            if len(todo) and not args.no_progress:
                side = "; Slurm runs them side by side" if args.executor == "slurm" else ""
                print(f"attnbench: {len(todo):,} point(s) to run: {eta_text(the_plan, spec)}{side}", file=sys.stderr)
            frame = run_points(spec, out, executor, the_plan, progress=not args.no_progress)
    except KeyboardInterrupt as exc:
        why = f" ({exc})" if str(exc) else ""
        print(f"attnbench: interrupted{why}; stored points are kept in {out} (continue with --resume)", file=sys.stderr)
        return None
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        raise UsageError(
            f"cannot store results in {str(out)!r}: {exc.strerror or exc}; the {_stored_count(out)} point(s) "
            "stored are kept (make room or fix the folder, then continue with --resume)"
        ) from None
    elsewhere = frame.attrs.get("elsewhere") or []
    if elsewhere:
        print(
            f"attnbench: skipped {len(elsewhere)} point(s) another sweep into {out} is measuring or has stored "
            "(collect them later with --resume): " + "; ".join(elsewhere[:5]) + ("; ..." if len(elsewhere) > 5 else ""),
            file=sys.stderr,
        )
    return frame


def run(args: argparse.Namespace) -> int:
    """Expand, plan, run, summarise."""
    from attnbench.config import resolve_device
    from attnbench.sweep import dry_run_table, plan, summary_text
    from attnbench.sweep.expand import collapsed_lrs, overridden_axes
    from attnbench.sweep.runner import eta_text, totals

    spec, name = build_spec(args)
    check_executor(args)
    if spec.workers > 1 and args.executor != "process":
        if getattr(args, "workers", None) is not None:  # asked for on this command line: a mistake
            raise UsageError(
                f"--workers {spec.workers} only applies to the process executor (this one is {args.executor!r})"
            )
        print(  # from the spec or preset: said, and the executor's own parallelism applies
            f"attnbench: warning: workers={spec.workers} (from {name}) only applies to the process executor; "
            f"the {args.executor} executor ignores it",
            file=sys.stderr,
        )
        spec = spec.replace(workers=1)
    out = Path(args.out or f"results/{name}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a directory")
    the_plan = plan(spec, out, resume=args.resume, retry_failed=args.retry_failed)
    for note in overridden_axes(spec):
        print(f"attnbench: {note}", file=sys.stderr)
    collapsed = collapsed_lrs(spec)
    if collapsed:
        print(f"attnbench: note: {collapsed}", file=sys.stderr)
    todo = the_plan.todo
    base = f"attnbench: sweep from {base_of(args)}; flags override it"
    if args.dry_run:
        print(base)
        table = dry_run_table(itertools.islice(todo, DRY_RUN_ROWS))  # the first rows only: the rest is never built
        print(table.to_string(index=False) if not table.empty else "(no points)")
        if len(todo) > len(table):
            print(f"... and {len(todo) - len(table):,} more point(s) (the first {DRY_RUN_ROWS} are listed)")
        sums = totals(the_plan)
        print(
            f"\n{sums.points:,} point(s) to run ({sums.stored:,} already stored), {sums.skipped:,} skipped as "
            f"nonsense; about {sums.gflop:,.0f} GFLOP of matrix multiplies in all\ntime: {eta_text(the_plan, spec)}"
        )
        return 0
    if len(todo) > CONFIRM_POINTS and not args.yes:
        raise UsageError(
            f"this sweep has {len(todo):,} points to run (more than {CONFIRM_POINTS:,}); look at it with "
            "--dry-run, then pass --yes to run it"
        )
    if args.executor != "slurm":  # points run here: what this machine lacks would fail every one of them
        resolve_device(spec.device)
        check_tasks(the_plan.points)
    frame = execute(args, spec, out, the_plan, first_line=base)
    if frame is None:
        return 130
    print(summary_text(frame))
    print(f"results: {out}  (report: attnbench report {out} -o reports/{out.resolve().name})")
    return 0
