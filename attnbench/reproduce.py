"""The papers' central result at laptop scale: who copies across a long delay, and who transfers.

Train lstm (full BPTT, at a short and at a longer delay), lstm with truncated BPTT, dense and sab (rsm
on request) on copy, several seeds each, evaluate every model at its training delay and at longer
delays without retraining (transfer), and set, per delay, the mean accuracy over the seeds, its
interval and the success rate beside the papers' figures (Ke et al., "Sparse Attentive
Backtracking", NeurIPS 2018, copy-task table). Our scale (hidden size, steps, delay) is far below the
papers'; the table says so.

A reproduction is a sweep: every (run, seed) is a point, a :class:`~attnbench.config.Point` and its
:class:`~attnbench.config.Options` (:func:`jobs`), planned and run by the sweep's runner
(:func:`attnbench.sweep.plan` and :func:`attnbench.sweep.run`: each point in a process of its own, or a
Slurm job array) and stored as one row in a results folder (:mod:`attnbench.results`). A rerun with
``resume`` skips the points stored; the table (:func:`summarize`, :func:`format_table`) is a view of
:func:`attnbench.aggregate.aggregate` over the stored rows: the held-out score at the training delay,
and at each longer delay the rows' ``transfer_scores``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attnbench.config import Job, Options, Point
from attnbench.errors import UsageError
from attnbench.params import Param

SCHEMA = "attnbench-reproduce"
SCHEMA_VERSION = 3
DEFAULT_OUT = "results/reproduce"


@dataclass(frozen=True)
class Run:
    """One row of the table: a variant, its parameters, its paper's optimiser, its budget and figures."""

    key: str
    label: str
    variant: str
    params: tuple[tuple[str, Any], ...]
    optimizer: str  # the optimiser of the paper's released code
    steps: int  # default budget; the fused lstm kernel is several times cheaper a step than the attention loops
    paper: tuple[tuple[int, str], ...] = ()  # (delay T, accuracy as the SAB paper reports it)
    long: bool = False  # trained at the config's long_delay instead of its delay


LSTM_PAPER = ((100, "99.8"), (200, "~56"), (300, "~36"))
# Paper figures: copy, accuracy over the last 10 steps, each model trained at that T (SAB paper).
RUNS: tuple[Run, ...] = (
    Run("lstm", "lstm, full BPTT", "lstm", (), "adam", 5000, LSTM_PAPER),
    Run("lstm_long", "lstm, full BPTT", "lstm", (), "adam", 5000, LSTM_PAPER, long=True),
    Run("lstm_tbptt", "lstm, truncated BPTT (k_trunc=5)", "lstm", (("k_trunc", 5),), "adam", 2000, ((100, "20-31"),)),
    Run("dense", "dense (full attention)", "dense", (), "rmsprop", 3000),
    Run(
        "sab",
        "sab (k_trunc=5, k_top=5, k_att=2)",
        "sab",
        # k_att <= k_trunc puts a memory in every truncation window, so every symbol can be learned
        (("k_trunc", 5), ("k_top", 5), ("k_att", 2)),
        "adam",
        4000,
        ((100, "~100"), (200, "~100"), (300, "~100")),
    ),
    # rsm learns the symbols one after another: about 11k steps to 99% at the default scale
    Run("rsm", "rsm (nu=10, rho=15)", "rsm", (("nu", 10), ("rho", 15)), "rmsprop", 12000),
)
RUN_KEYS = tuple(r.key for r in RUNS)
# rsm's budget alone (5 seeds x 12k steps of ~50 ms) is past the 20 minutes: selectable, not default
DEFAULT_RUNS = tuple(k for k in RUN_KEYS if k != "rsm")
PAPER_DELAYS = (100, 200, 300)
TARGET = 0.99  # copy's declared target (attnbench.tasks._recall.RecallTask.target)


DELAY = Param("delay", 20, int, low=1, help="training delay T")
LONG_DELAY = Param("long delay", 60, int, low=1, help="the longer training delay of lstm_long")
TRANSFER_DELAY = Param("transfer delay", 40, int, low=1, help="a longer delay to evaluate at")
STEPS = Param("train_steps", None, int, low=1, none_means="each run's own budget", help="steps of every run")
TIMEOUT_S = 3600.0  # a point's time limit: the longest default run takes minutes; a slow machine, more


def default_workers() -> int:
    """min(2, the CPUs this process may use)."""
    import os

    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass(frozen=True)
class ReproduceConfig:
    """The scale of the reproduction; the defaults finish in under 20 minutes on 2 CPU cores.

    ``batch``, ``hidden_size``, ``lr``, ``eval_batches``, each seed and ``steps`` are the
    :class:`~attnbench.config.Point` and :class:`~attnbench.config.Options` fields of every run
    (``batch`` is the training batch, ``steps`` its ``train_steps``), validated by them. Where the points
    run (workers, executor, time limit) is the sweep's business, not the configuration's.
    """

    delay: int = DELAY.default  # four truncation windows, well past what truncated BPTT bridges
    long_delay: int = LONG_DELAY.default  # where full-BPTT lstm fails at this budget (lstm_long)
    transfer: tuple[int, ...] = (40, 60, 100)  # longer delays to evaluate at, without retraining
    steps: int | None = None  # None: each run's own budget (Run.steps)
    batch: int = 32
    hidden_size: int = 64
    lr: float = 1e-2  # the papers' 1e-3 needs tens of thousands of steps; see format_table's notes
    eval_batches: int = 10
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # a run's seeds train together as one replicate group
    runs: tuple[str, ...] = DEFAULT_RUNS

    def __post_init__(self) -> None:
        DELAY.validate(self.delay, "reproduce")
        LONG_DELAY.validate(self.long_delay, "reproduce")
        STEPS.validate(self.steps, "reproduce")
        for t in self.transfer:
            TRANSFER_DELAY.validate(t, "reproduce")
        short = [t for t in self.transfer if t < self.delay]
        if short:
            raise UsageError(
                f"reproduce: transfer delay {short[0]} is shorter than the training delay {self.delay}; "
                "transfer is evaluated at delays >= the training delay"
            )
        if self.long_delay <= self.delay:
            raise UsageError(
                f"reproduce: long delay {self.long_delay} is not longer than the training delay {self.delay}"
            )
        unknown = [k for k in self.runs if k not in RUN_KEYS]
        if unknown or not self.runs:
            what = repr(unknown[0]) if unknown else "(none given)"
            raise UsageError(f"reproduce: unknown run {what}; known runs: {', '.join(RUN_KEYS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"reproduce: seeds {list(self.seeds)}: expected one or more distinct seeds")
        for seed in self.seeds:
            self.point(RUNS[0], seed)
        self.options(RUNS[0])

    def selected(self) -> list[Run]:
        """The runs of the table, in the table's order."""
        return [r for r in RUNS if r.key in self.runs]

    def train_delay(self, run: Run) -> int:
        """The delay ``run`` trains at."""
        return self.long_delay if run.long else self.delay

    def eval_delays(self, run: Run) -> list[int]:
        """The delays ``run`` is evaluated at: its training delay and every longer transfer delay."""
        t = self.train_delay(run)
        return [t, *sorted({d for d in self.transfer if d > t})]

    def point(self, run: Run, seed: int) -> Point:
        """What one seed of ``run`` trains: its variant on copy at the run's training delay, evaluated at
        the longer delays too (``transfer_copy``'s ``eval_lens``) where it has any."""
        t = self.train_delay(run)
        longer = self.eval_delays(run)[1:]
        task, task_params = ("transfer_copy", {"eval_lens": ",".join(map(str, longer))}) if longer else ("copy", {})
        return Point.make(run.variant, task, seq_len=t, task_params=task_params, variant_params=dict(run.params),
                          batch=self.batch, hidden_size=self.hidden_size, seed=seed)  # fmt: skip

    def options(self, run: Run) -> Options:
        """How one run trains: its paper's optimiser, its budget (or ``steps``), one torch thread; its costs
        are timed once (one repeat, no warm-up): the accuracy run is what the table is about."""
        steps = run.steps if self.steps is None else self.steps
        return Options(train_steps=steps, train_batch=self.batch, optimizer=run.optimizer, lr=self.lr,
                       eval_batches=self.eval_batches, threads=1, warmup=0, repeats=1)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


_COST = {"lstm": 1.0}  # fused kernel: roughly 5x cheaper a step than the attention loops at T=20


def jobs(config: ReproduceConfig) -> list[Job]:
    """Every (run, seed) of ``config`` as a sweep job: the most expensive run first (so the slow points do not
    finish last alone), a run's seeds one after another (the replicates of one configuration)."""
    runs = sorted(
        config.selected(),
        key=lambda r: -config.options(r).train_steps * (config.train_delay(r) + 20) * _COST.get(r.variant, 5.0),
    )
    return [Job(config.point(run, seed), config.options(run)) for run in runs for seed in config.seeds]


def points(config: ReproduceConfig) -> dict[str, tuple[Run, int]]:
    """The point id of every (run, seed) of ``config``, and its run and seed."""
    return {
        Job(config.point(run, seed), config.options(run)).point_id: (run, seed)
        for run in config.selected()
        for seed in config.seeds
    }


def execution(workers: int = 1, timeout_s: float = TIMEOUT_S, max_memory: str | None = None) -> Any:
    """The sweep settings the reproduction runs under (a :class:`~attnbench.sweep.SweepSpec`, its grid unused:
    the points are :func:`jobs`'): points side by side, each one's time and host memory limits."""
    from attnbench.sweep import SweepSpec

    return SweepSpec().replace(workers=workers, timeout_s=timeout_s, max_memory=max_memory)


def reproduce(
    config: ReproduceConfig,
    out: str | Path = DEFAULT_OUT,
    *,
    resume: bool = False,
    workers: int = 1,
    timeout_s: float = TIMEOUT_S,
    progress: bool = False,
) -> pd.DataFrame:
    """Run the points of ``config`` not yet stored in ``out`` (the sweep's process executor), then return
    every stored row of ``config`` (:func:`stored`). ``resume`` as ``attnbench sweep --resume``: without
    it a folder holding points is refused."""
    from attnbench.sweep import make_executor, plan, run

    out = Path(out)
    spec = execution(workers, timeout_s)
    the_plan = plan(spec, out, resume=resume, jobs=jobs(config))
    run(spec, out, make_executor("process", spec, out, {}, True), the_plan, progress=progress)
    return stored(config, out)


def stored(config: ReproduceConfig, out: str | Path) -> pd.DataFrame:
    """The rows of ``config``'s points stored in ``out``, with a ``run`` column (its run's key); the folder's
    other points (another configuration's) are left out."""
    from attnbench.results import load

    ids = points(config)
    if not (Path(out) / "points").is_dir():
        return pd.DataFrame()
    frame = load(out)
    frame = frame[frame["point_id"].isin(ids)].copy()
    frame["run"] = [ids[pid][0].key for pid in frame["point_id"]]
    order = {r.key: i for i, r in enumerate(RUNS)}
    frame = frame.sort_values(["run", "seed"], key=lambda c: c.map(order) if c.name == "run" else c, kind="stable")
    return frame.reset_index(drop=True)


def _scores(value: Any) -> dict[str, Any]:
    """A row's ``transfer_scores`` (JSON text or a dict) as a dict; {} when missing or damaged."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


# the learning curve's columns: left out of the rows aggregated, so every column's k/n is the held-out
# score at that delay against the target (a transfer delay has no curve)
CURVE_COLUMNS = ("val_score", "val_curve", "steps_to_target", "seconds_to_target")


def delay_rows(rows: pd.DataFrame, config: ReproduceConfig) -> pd.DataFrame:
    """One row per stored row and evaluation delay: its ``score`` there (the held-out score at the training
    delay, its ``transfer_scores`` entry at a longer one; None for a point that failed), ``seq_len`` the
    delay, ``label`` the run's key; what :func:`summarize` aggregates."""
    by_key = {r.key: r for r in RUNS}
    out = []
    for _, row in rows.iterrows():
        run = by_key[row["run"]]
        transfer = _scores(row.get("transfer_scores"))
        for delay in config.eval_delays(run):
            score = row.get("score") if delay == config.train_delay(run) else transfer.get(str(delay))
            ok = row.get("status") == "ok"
            out.append({**row.to_dict(), **dict.fromkeys(CURVE_COLUMNS), "label": run.key, "seq_len": delay,
                        "score": score if ok else None})  # fmt: skip
    return pd.DataFrame(out)


def summarize(rows: pd.DataFrame, config: ReproduceConfig) -> list[dict[str, Any]]:
    """Per run and evaluation delay, from :func:`attnbench.aggregate.aggregate` over :func:`delay_rows`:
    the seeds (``n_runs``, ``n`` with a score), the mean accuracy and its interval (aggregate's
    :func:`~attnbench.aggregate.mean_ci`), and the successes, the seeds whose score there reaches copy's
    target (a failed point counts as not reaching it). In the table's order."""
    from attnbench.aggregate import aggregate

    if rows.empty:
        return []
    agg = aggregate(delay_rows(rows, config), choose_lr=False)
    order = {r.key: i for i, r in enumerate(RUNS)}
    by_key = {r.key: r for r in RUNS}
    out = []
    for _, a in agg.iterrows():
        run = by_key[a["label"]]
        out.append({
            "run": run.key,
            "train_delay": config.train_delay(run),
            "delay": int(a["seq_len"]),
            "n_runs": int(a["n_runs"]),
            "n": int(a["score_n"]),
            "mean": _finite(a["score_mean"]),
            "ci_low": _finite(a["score_ci_low"]),
            "ci_high": _finite(a["score_ci_high"]),
            "successes": round(a["success_rate"] * a["n_runs"]),
            "success_rate": _finite(a["success_rate"]),
        })  # fmt: skip
    return sorted(out, key=lambda s: (order[s["run"]], s["delay"]))


def _finite(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "-"
    if s["mean"] is None:
        return f"failed {s['n_runs'] - s['n']}/{s['n_runs']}"
    ci = "" if s["ci_low"] is None else f" [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]"
    return f"{100 * s['mean']:.1f}{ci} {s['successes']}/{s['n_runs']}"


def per_seed_note(rows: pd.DataFrame, present: list[Run]) -> str:
    """Every seed's held-out accuracy at its training delay, per run, and for a seed that reached the target
    the step it got there (its learning curve's first point at or above it): where a mean halfway hides
    that some seeds solve the task and others do not, this line shows it."""
    if rows.empty or "seed" not in rows:
        return ""
    parts = []
    for run in present:
        mine = rows[rows["run"] == run.key].sort_values("seed")
        seeds = []
        for _, row in mine.iterrows():
            score = row.get("score") if row.get("status") == "ok" else None
            if score is None or pd.isna(score):
                seeds.append(f"seed {int(row['seed'])} {row.get('status')}")
                continue
            step = row.get("steps_to_target")
            when = f" (target at step {int(step):,})" if step is not None and not pd.isna(step) else ""
            seeds.append(f"seed {int(row['seed'])} {100 * float(score):.1f}%{when}")
        if seeds:
            parts.append(f"{run.key} ({', '.join(seeds)})")
    return "Every seed at its run's training delay: " + "; ".join(parts) + "." if parts else ""


def format_table(rows: pd.DataFrame, config: ReproduceConfig) -> str:
    """Per run and delay the mean accuracy, its interval and the successes (:func:`summarize`), beside the
    papers' figures, as a Markdown table with notes on scale and on what failed and why."""
    from attnbench.aggregate import CONFIDENCE

    summary = summarize(rows, config)
    by = {(s["run"], s["delay"]): s for s in summary}
    stored_runs = set(rows["run"]) if not rows.empty else set()
    present = [r for r in config.selected() if r.key in stored_runs]
    delays = sorted({d for r in present for d in config.eval_delays(r)})
    head = ["run", "trained at", "steps", *[f"T={t}" for t in delays], *[f"paper T={t}" for t in PAPER_DELAYS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for run in present:
        steps = config.options(run).train_steps
        figures = dict(run.paper)
        cells = [run.label, f"T={config.train_delay(run)}", str(steps)]
        cells += [_cell(by.get((run.key, t))) for t in delays]
        cells += [figures.get(t, "n/a") for t in PAPER_DELAYS]
        lines.append("| " + " | ".join(cells) + " |")
    optimisers = ", ".join(f"{r.key} {r.optimizer}" for r in present)
    seeds = ", ".join(map(str, config.seeds))
    notes = [
        "",
        "Copy task; accuracy (%) over the 10 recall steps on held-out sequences, chance 12.5%. Each cell: the "
        f"mean over seeds {seeds}, its {100 * CONFIDENCE:.0f}% interval (attnbench.aggregate's interval of the "
        f"mean over the seeds), and k/n, the seeds whose held-out accuracy there reaches copy's target of "
        f"{100 * TARGET:.0f}% (the task's declared target, as 'solved' in both papers). "
        "A cell at the run's training delay is the trained task; the cells to its right are transfer: the "
        "same model evaluated at a longer delay without retraining. '-': not evaluated.",
        f"Ours: hidden {config.hidden_size}, batch {config.batch}, lr {config.lr}, gradient clip 1.0; optimisers "
        f"as in each paper's released code ({optimisers}).",
        "Papers (the SAB paper's copy-task table): each model trained at the T of its column, with the "
        "SAB release's defaults of hidden 128, lr 1e-3 and 20 epochs of 10,000 batches of 64 (200k steps). "
        "Our budget is a few thousand steps, hence the shorter delays and the higher learning rate: compare the "
        "pattern (who succeeds, who fails, who transfers), not the digits. n/a: the paper gives no figure.",
        *NOTES,
    ]
    if any(r.key in ("lstm", "lstm_long") for r in present):
        notes.insert(3, f"Full-BPTT lstm is trained at T={config.delay} (lstm) and at T={config.long_delay} "
                        "(lstm_long), to show how its accuracy falls with the delay at this budget.")  # fmt: skip
    seeds_note = per_seed_note(rows, present)
    if seeds_note:
        notes.append(seeds_note)
    if "rsm" not in config.runs:
        notes.append(RSM_NOTE)
    failed = rows[rows["status"] != "ok"] if not rows.empty else rows
    if len(failed):
        what = [f"{r['run']} seed {r['seed']}: {r['status']}, {r['error']}" for _, r in failed.iterrows()]
        notes.append("Failed points (counted as not reaching the target): " + "; ".join(what) + ".")
    expected = len(config.selected()) * len(config.seeds)
    if len(rows) < expected:
        notes.append(f"{expected - len(rows)} of the {expected} points are not stored yet (interrupted, or still "
                     "running on Slurm): rerun with --resume to run or collect them.")  # fmt: skip
    return "\n".join(lines + notes)


NOTES: tuple[str, ...] = (
    "Full-BPTT lstm at this scale does not reach the papers' 99.8% at any delay we tried: it learns the "
    "symbols one after another, slowly. Seed 0, hidden 64, batch 32 (`attnbench train --variant lstm "
    "--task copy --hidden 64 --steps 8000 ...`): at T=20 26% after 8,000 steps (lr 1e-2 and 3e-3 alike, "
    "the validation curve still rising 0.22 -> 0.26), at T=10 34% (lr 1e-2) and 38.5% (lr 3e-3, rising "
    "linearly from 13% at 400 steps to 40% at 8,000); hidden 128 at lr 1e-2 stayed at chance at T=10. "
    "A larger model and batch learn faster but not enough: hidden 128, batch 128 at T=10 "
    "(`attnbench train --variant lstm --task copy --seq-len 10 --hidden 128 --batch 128 "
    "--steps 10000 --lr 1e-2`, about 45 ms a step, 7.5 minutes a seed on one core) reach 67% after 4,000 "
    "steps and 78% after 10,000 (seed 1; rising 2-3 points per 500 steps), and 50% at lr 5e-3 (seed 0). "
    "The paper's 99.8% at T=100 took 200k steps of batch 64; five seeds of even 10,000 steps of that "
    "size are past this command's 20 minutes, so the lstm rows show the decline with the delay and the "
    "lack of transfer, not a solved short delay.",
    "dense and rsm feed the attention summary into the gates and learn copy by an abrupt switch to "
    "attending at the symbols, whose onset varies with the seed; scripts/copy_attention_onset.py shows it "
    "step by step (`python scripts/copy_attention_onset.py dense --seed 2`, the reproduce recipe). Seed 0 "
    "switches between 1,200 and 1,800 steps: the step attended most at the 10 recall steps goes from "
    "[0, 30, 9, 32, 9, ...] to [0, 1, ..., 9] and accuracy from 34% to 98%; at lr 1e-2 the pattern can "
    "break and form again (46% at 2,400, 98% at 3,000). Seed 2 attends at symbol 0 for the first recall "
    "from step 600 on (that position at 100%) and, for the other nine, at the recall phase's own states "
    "(steps 30-33): those positions stay near 20%, 28% in all at 3,000 steps and 33% at 6,000; seed 1 "
    "reaches 47% at 6,000. More steps do not undo that pattern at this budget. "
    "rsm with room for every state computes exactly what dense does "
    "(tests/variants/test_rsm.py); with less, it keeps a state only if it drew attention while in the "
    "short-term buffer, i.e. during the input phase, so while the attention pattern forms, symbols are "
    "screened out and the recall has nothing to learn from.",
)
RSM_NOTE = (
    "rsm is not in the default runs: it needs about 12,000 steps of ~50 ms to reach 99% at this scale, "
    "5 seeds of which alone exceed the 20-minute budget on 2 cores; `--runs rsm` (or `--runs "
    "lstm,lstm_tbptt,dense,sab,rsm`) adds it."
)
