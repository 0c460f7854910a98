"""The measurement scripts under scripts/ run end to end at a toy size (their figures are for a quiet machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
