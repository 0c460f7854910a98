"""attnbench reproduce on the command line: a tiny run end to end, its JSON, and its one-line errors."""

from __future__ import annotations

import json

import pytest

from attnbench.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_reproduce_command_tiny(tmp_path, capsys):
    path = tmp_path / "r.json"
    argv = ["reproduce", "--delay", "2", "--long-delay", "3", "--transfer", "4", "--steps", "1", "--batch", "2",
            "--hidden", "4", "--eval-batches", "1", "--runs", "lstm_tbptt,rsm", "--seeds", "0,1",
            "--workers", "0", "--no-progress", "--json", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| lstm, truncated BPTT (k_trunc=5) | T=2 | 1 |" in out and "| rsm (nu=10, rho=15) | T=2 | 1 |" in out
    assert "Wall time" in out and "rsm is not in the default runs" not in out
    data = json.loads(path.read_text())
    assert data["format"] == "attnbench-reproduce" and data["version"] == 2 and data["complete"] is True
    assert [(r["run"], r["seed"]) for r in data["jobs"]] == [("lstm_tbptt", 0), ("lstm_tbptt", 1), ("rsm", 0),
                                                               ("rsm", 1)]  # fmt: skip
    assert data["config"]["delay"] == 2 and data["config"]["seeds"] == [0, 1]
    assert {(t["run"], t["delay"]) for t in data["table"]} == {(k, d) for k in ("lstm_tbptt", "rsm") for d in (2, 4)}
    assert all(r["train"]["curve"] for r in data["jobs"])  # the learning curves are kept


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--delay", "0"], "delay=0 is not allowed"),
        (["--transfer", "a,b"], "--transfer 'a,b': expected comma-separated integers"),
        (["--seeds", "x"], "--seeds 'x': expected comma-separated integers"),
        (["--runs", "lstm,nope"], "unknown run 'nope'"),
        (["--variants", "nope"], "unknown run 'nope'"),
        (["--steps", "-1"], "steps=-1 is not allowed"),
        (["--workers", "-1"], "workers=-1 is not allowed"),
        (["--long-delay", "5"], "long delay 5 is not longer"),
    ],
)
def test_bad_command_line_is_one_line_exit_2(capsys, argv, message):
    assert main(["reproduce", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnbench: error: ") and "\n" not in err and message in err


def test_help_prints_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # the help wraps lines
    assert "95% interval" in text and "reach 99%" in text and "%%" not in text
