"""Sweeps: a grid of configurations, each measured in its own process, every result kept.

``SweepSpec`` (from a TOML/YAML file, a preset, or flags) -> :func:`expand` -> jobs (a
:class:`~attnbench.config.Point` and its :class:`~attnbench.config.Options` each) -> an executor runs
each in isolation and stores one row per point in a results directory (:mod:`attnbench.results`).
"""

from attnbench.config import Job, Options, Point
from attnbench.sweep.expand import expand
from attnbench.sweep.runner import Plan, dry_run_table, make_executor, plan, run, summary_text
from attnbench.sweep.spec import SweepSpec, load_file, load_preset, preset_names

__all__ = [
    "Job",
    "Options",
    "Plan",
    "Point",
    "SweepSpec",
    "dry_run_table",
    "expand",
    "load_file",
    "load_preset",
    "make_executor",
    "plan",
    "preset_names",
    "run",
    "summary_text",
]
