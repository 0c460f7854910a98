"""attnbench reproduce: a tiny version end to end, the table, the JSON, and the checks on its options."""

from __future__ import annotations

import json

import pytest

from attnbench.cli import main
from attnbench.errors import UsageError
from attnbench.params import ParameterError
from attnbench.reproduce import RUN_KEYS, RUNS, ReproduceConfig, format_table, reproduce

pytestmark = pytest.mark.usefixtures("one_thread")


def test_runs_cover_the_papers_comparison():
    assert RUN_KEYS == ("lstm", "lstm_tbptt", "dense", "sab", "rsm")
    by_key = {r.key: r for r in RUNS}
    assert dict(by_key["lstm_tbptt"].params)["k_trunc"] < ReproduceConfig().delay  # truncation can't bridge it
    assert dict(by_key["sab"].params) == {"k_trunc": 5, "k_top": 5, "k_att": 2}
    assert dict(by_key["lstm"].paper)[100] == "99.8"
    assert all(t > ReproduceConfig().delay for t in ReproduceConfig().transfer)


def test_tiny_reproduction_table():
    config = ReproduceConfig(delay=3, transfer=(5,), steps=2, batch=4, hidden_size=4, eval_batches=1,
                             runs=("lstm", "sab"), progress=False)  # fmt: skip
    lines: list[str] = []
    results = reproduce(config, log=lines.append)
    assert [r.run.key for r in results] == ["lstm", "sab"] and len(lines) == 2
    for r in results:
        assert set(r.accuracy) == {3, 5} and all(0 <= a <= 1 for a in r.accuracy.values())
        assert r.result.transfer_scores == {5: r.accuracy[5]}
        json.dumps(r.to_dict())
    table = format_table(results, config)
    head = table.splitlines()[0]
    assert "ours T=3" in head and "ours T=5 (transfer)" in head and "paper T=100" in head
    assert "| lstm, full BPTT | 2 | " in table and "99.8" in table and "n/a" not in table.splitlines()[2]
    assert "not the digits" in table  # the scale caveat is part of the table


def test_reproduce_command_tiny(tmp_path, capsys):
    path = tmp_path / "r.json"
    argv = ["reproduce", "--delay", "2", "--transfer", "4", "--steps", "1", "--batch", "2", "--hidden", "4",
            "--eval-batches", "1", "--variants", "lstm_tbptt,rsm", "--no-progress", "--json", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| lstm, truncated BPTT (k_trunc=5) | 1 |" in out and "| rsm (nu=10, rho=15) | 1 |" in out
    assert "Wall time" in out
    data = json.loads(path.read_text())
    assert [r["key"] for r in data["runs"]] == ["lstm_tbptt", "rsm"] and data["config"]["delay"] == 2


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"delay": 0}, ParameterError, "delay=0"),
        ({"transfer": (10, 0)}, ParameterError, "transfer delay=0"),
        ({"delay": 50, "transfer": (100, 20)}, UsageError, "transfer delay 20 is shorter"),
        ({"runs": ("lstm", "gru")}, UsageError, "unknown run 'gru'; known runs: lstm, lstm_tbptt"),
        ({"runs": ()}, UsageError, "unknown run"),
        ({"steps": 0}, ParameterError, "steps=0"),
        ({"hidden_size": 0}, ParameterError, "hidden_size=0"),
    ],
)
def test_bad_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReproduceConfig(**kwargs)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--delay", "0"], "delay=0 is not allowed"),
        (["--transfer", "a,b"], "--transfer 'a,b': expected comma-separated integers"),
        (["--variants", "lstm,nope"], "unknown run 'nope'"),
        (["--steps", "-1"], "steps=-1 is not allowed"),
        (["--threads", "0"], "--threads 0"),
    ],
)
def test_bad_command_line_is_one_line_exit_2(capsys, argv, message):
    assert main(["reproduce", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnbench: error: ") and "\n" not in err and message in err
