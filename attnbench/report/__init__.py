"""Reports: Pareto fronts, scaling exponents and gradient reach, from stored results (never measures).

``build_report(paths, out_dir)`` reads attnbench results directories and asv results folders into one
tidy table (:mod:`.tables`, :mod:`.asv_reader`), computes fronts (:mod:`.frontier`) and exponents
(:mod:`.scaling`) as pure functions over it, draws PNG figures with seaborn (:mod:`.plots`,
:mod:`.curves`) and writes ``index.html`` and ``summary.md`` (:mod:`.html`).
"""

from __future__ import annotations

from attnbench.report.build import build_report
from attnbench.report.frontier import grouped_pareto_mask, pareto_front, pareto_mask
from attnbench.report.scaling import declared_exponents, expected_exponent, fit_exponent, fit_exponents
from attnbench.report.tables import ResultsTable, load_table

__all__ = [
    "ResultsTable",
    "build_report",
    "declared_exponents",
    "expected_exponent",
    "fit_exponent",
    "fit_exponents",
    "grouped_pareto_mask",
    "load_table",
    "pareto_front",
    "pareto_mask",
]
