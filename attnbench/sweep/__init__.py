"""Sweeps: a grid of configurations, each measured in its own process, every result kept.

``SweepSpec`` (from a TOML/YAML file, a preset, or flags) -> :func:`expand` -> points -> an executor
runs each in isolation and stores one row per point in a results directory (:mod:`attnbench.results`).
"""

from attnbench.sweep.expand import Point, expand
from attnbench.sweep.runner import Plan, dry_run_table, make_executor, plan, run, summary_text
from attnbench.sweep.spec import SweepSpec, load_file, load_preset, preset_names

__all__ = [
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
