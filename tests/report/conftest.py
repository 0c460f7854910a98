"""Shared fixtures of the report tests: the stored fixtures, tiny results dirs, reports built once."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from attnbench.results import ResultsDir

FIXTURES = Path(__file__).parent / "fixtures"
SWEEP = FIXTURES / "sweep_small"
ASV = FIXTURES / "asv_small"


def tiny_results(path: Path, variant: str = "lstm", score: float | None = 0.9, lengths=(20, 40)) -> Path:
    """A results dir with one configuration at a few lengths (score None: no accuracy measured)."""
    store = ResultsDir(path)
    for t in lengths:
        store.write(
            {
                "point_id": f"p{t}",
                "label": variant,
                "variant": variant,
                "task": "copy",
                "seq_len": t,
                "batch": 2,
                "hidden_size": 8,
                "device": "cpu",
                "dtype": "float32",
                "train_steps": 0 if score is None else 10,
                "status": "ok",
                "step_time_s": 1e-3 * t,
                "saved_bytes": 1e4 * t,
                "flops_fwd": 1e5 * t,
                "flops_bwd": 2e5 * t,
                "score": score,
                "score_metric": "accuracy",
                "higher_is_better": True,
                "grad_reach": json.dumps([[0, 1.0], [t // 2, 0.5], [t - 1, 0.0]]),
            }
        )
    return path


@pytest.fixture(scope="session")
def sweep_report(tmp_path_factory) -> Path:
    """The report of the stored sweep fixture (built once per session)."""
    from attnbench.report import build_report

    return build_report([SWEEP], tmp_path_factory.mktemp("sweep_report") / "report")


@pytest.fixture(scope="session")
def asv_report(tmp_path_factory) -> Path:
    """The report of the stored asv fixture (built once per session)."""
    from attnbench.report import build_report

    return build_report([ASV], tmp_path_factory.mktemp("asv_report") / "report")


@pytest.fixture(scope="session")
def damaged_report(tmp_path_factory) -> tuple[Path, list[str]]:
    """A tiny results dir with one point file damaged: the report and the warnings it gave."""
    from attnbench.report import build_report

    root = tmp_path_factory.mktemp("damaged")
    tiny_results(root / "results")
    (root / "results" / "points" / "broken.json").write_text('{"point_id": "broken", "seq_')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = build_report([root / "results"], root / "report")
    return index, [str(w.message) for w in caught]
