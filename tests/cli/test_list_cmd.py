"""`attnbench list` shows every variant with its parameters, defaults and sweep axes."""

from __future__ import annotations

from attnbench.cli import main


def test_list_variants(capsys):
    assert main(["list", "variants"]) == 0
    out = capsys.readouterr().out
    for name in ("lstm", "dense", "sab", "rsm"):
        assert f"\n  {name}" in out or out.startswith(f"variants:\n  {name}")
    assert "k_top" in out and "[sweep axis: top-k]" in out
    assert "rho" in out and "[sweep axis: memory size]" in out
    assert "default none" in out and "unbounded" in out


def test_bad_choice_is_one_line_exit_2(capsys):
    assert main(["list", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnbench: error: ") and err.count("\n") == 1
