"""The measurement scripts under scripts/ run end to end at a toy size (their figures are for a quiet machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOY = ["--batch", "2", "--seq-len", "6", "--hidden", "4", "--repeats", "2"]


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_step_speed_times_every_variant_against_the_lstm_cell_loop(tmp_path):
    out = tmp_path / "speed.json"
    done = _script("step_speed.py", *TOY, "--only", "lstm-cell", "rsm", "--json", str(out))
    assert done.returncode == 0, done.stderr
    rows = {r["label"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"lstm-cell", "rsm"} and all(r["error"] is None for r in rows.values())
    assert len(rows["rsm"]["times_s"]) == 2 and all(t > 0 for t in rows["rsm"]["times_s"])


def test_step_speed_ab_interleaves_two_checkouts_round_by_round(tmp_path):
    out = tmp_path / "ab.json"
    done = _script("step_speed_ab.py", "--trees", str(ROOT), str(ROOT), *TOY, "--only", "lstm-cell", "sab",
                   "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "round 0 done\n" in done.stderr and "round 2 done: " in done.stderr  # round 0 is the untimed warm-up
    rows = json.loads(out.read_text())["rows"]
    assert [(r["label"], len(r["times_s"])) for r in rows] == [("lstm-cell", 2), ("sab", 2)] * 2
    assert all(r["round_ratios"] == [1.0, 1.0] for r in rows if r["label"] == "lstm-cell")
    assert "sab: before/after per round" in done.stdout


def test_group_speed_reports_replicate_steps_per_second_against_g1(tmp_path):
    out = tmp_path / "groups.json"
    done = _script("group_speed.py", "--sizes", "toy", "--groups", "1,3", "--variants", "lstm,rsm", "--rounds", "2",
                   "--steps", "1", "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["variant"], r["G"]) for r in rows] == [("lstm", 1), ("lstm", 3), ("rsm", 1), ("rsm", 3)]
    assert all(r["replicate_steps_per_s"] > 0 and r["path"] == "grouped" for r in rows)
    assert all(r["throughput_x_G1"] == 1.0 for r in rows if r["G"] == 1)
    assert "round 2/2 done" in done.stderr


def test_group_speed_refuses_a_cuda_graph_on_the_cpu():
    done = _script("group_speed.py", "--sizes", "toy", "--cuda-graph")
    assert done.returncode == 2 and "needs a CUDA device (this run is on cpu)" in done.stderr
    assert "Traceback" not in done.stderr


def _readme_quick():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_quick", ROOT / "scripts" / "readme_quick.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_quick_copies_each_tasks_headline_between_the_markers():
    rq = _readme_quick()
    summary = (
        "# attnbench report\n\n## Overview\n\nx\n\n## Task adding\n\n### Headline\n\nWhat it says.\n\n"
        "At T=20: overlapping lstm: sab.\n\n| T | a |\n|---|---|\n| 20 | 1 |\n\n### Status of every point\n\nok\n\n"
        "## Task copy\n\n### Status of every point\n\nno headline here\n\n## Expected exponents\n\nz\n"
    )
    readme = f"intro\n\n{rq.BEGIN}\nstale text\n{rq.END}\n\nafter\n"
    new = rq.generated(readme, summary)
    assert new == (
        f"intro\n\n{rq.BEGIN}\n\n#### Task adding\n\nAt T=20: overlapping lstm: sab.\n\n| T | a |\n|---|---|\n"
        f"| 20 | 1 |\n\n{rq.END}\n\nafter\n"
    )
    assert rq.generated(new, summary) == new  # idempotent
    with pytest.raises(SystemExit, match="no block between"):
        rq.generated("no markers", summary)
    with pytest.raises(SystemExit, match="no task has a 'Headline' section"):
        rq.generated(readme, "## Task copy\n\n### Status of every point\n")


def test_the_readme_quotes_the_quick_reports_headlines():
    rq = _readme_quick()
    readme = rq.README.read_text()
    block = readme[readme.index(rq.BEGIN) : readme.index(rq.END)]
    assert "#### Task copy" in block and "chosen on validation" in block and "(n=5)" in block
    assert rq.headlines(rq.SUMMARY.read_text()).split("\n\n")[0] in block  # the report's own headings
