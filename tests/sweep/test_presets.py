"""The built-in presets: each one expands, plugin-smoke for any variant, and `sweep --help` names them all."""

from __future__ import annotations

import pytest

from attnbench.cli import build_parser
from attnbench.cli.sweep_cmd import build_spec
from attnbench.sweep import expand, preset_names
from attnbench.variants import list_variants
from tests.sweep.conftest import THREE_POINTS


def _spec(*argv: str):
    args = build_parser().parse_args(["sweep", *argv])
    return build_spec(args)[0]


@pytest.mark.parametrize("variant", sorted(set(list_variants()) - {"lstm"}))
def test_plugin_smoke_expands_beside_lstm_for_every_variant(variant):
    """What docs/plugins.md recommends, whatever the variant's memory parameter takes."""
    points = expand(_spec("--preset", "plugin-smoke", "--variants", f"lstm,{variant}"))
    assert {p.point.variant for p in points} == {"lstm", variant}


def test_sweep_help_names_every_preset(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in preset_names():
        assert name in text


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_expands_and_dry_runs(name):
    from attnbench.sweep import dry_run_table

    points = expand(_spec("--preset", name))
    table = dry_run_table(points)
    assert len(table) == len(points) > 0


def test_an_axis_value_one_variant_does_not_take_is_skipped_for_it_alone():
    points = expand(_spec("--variants", "sab,rsm", "--memory", "none,8", "--seq-len", "5"))
    skipped = {p.label: p.skip_reason for p in points if p.skip_reason}
    assert list(skipped) == ["rsm[rho=none]"]
    assert "rho='none' is not allowed" in skipped["rsm[rho=none]"] and "rsm does not take" in skipped["rsm[rho=none]"]
    ran = {(p.point.variant, p.point.axis_value("memory")) for p in points if not p.skip_reason}
    assert ran == {("sab", None), ("sab", 8), ("rsm", 8)}


def test_an_axis_value_no_variant_takes_is_still_an_error():
    from attnbench.errors import UsageError

    with pytest.raises(UsageError, match="rho='none' is not allowed"):
        expand(_spec("--variants", "lstm,rsm", "--memory", "none,8"))


def test_a_large_sweep_asks_for_yes_and_the_dry_run_lists_the_first_rows(tmp_path, capsys, monkeypatch):
    import attnbench.cli.sweep_cmd as cmd
    from attnbench.cli import main

    monkeypatch.setattr(cmd, "CONFIRM_POINTS", 2)
    monkeypatch.setattr(cmd, "DRY_RUN_ROWS", 2)
    argv = [*THREE_POINTS, "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("attnbench: error: this sweep has 3 points to run (more than 2)")
    assert "--dry-run, then pass --yes" in err
    assert not (tmp_path / "r").exists()
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "... and 1 more point(s) (the first 2 are listed)" in out and "3 point(s) to run" in out


def test_a_flag_only_sweep_starts_from_the_declared_defaults_not_the_quick_preset():
    """`sweep --variants sab --seq-len 10` is sab with its defaults, one seed and the default options:
    not the quick preset's k_att=2, k_trunc=5, three seeds and 300 steps."""
    from attnbench.config import Options
    from attnbench.variants import get_variant

    spec = _spec("--variants", "sab", "--seq-len", "10")
    defaults = {p.name: p.default for p in get_variant("sab").params}
    (job,) = expand(spec)
    assert job.point.params == defaults and job.point.seed == 0 and job.options == Options()
    assert spec.seeds == (0,) and spec.variant_params == {} and spec.batch == 32 and spec.workers == 1
    assert _spec().seeds == (0, 1, 2, 3, 4)  # no grid flag at all: the quick preset, as documented
    assert _spec("--preset", "quick", "--variants", "sab").variant_params["sab"]["k_att"] == 2


def test_the_dry_run_and_the_run_say_what_the_sweep_starts_from(tmp_path, capsys):
    from attnbench.cli import main

    assert main(["sweep", "--variants", "lstm", "--seq-len", "3", "--dry-run", "--out", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("attnbench: sweep from the declared defaults")
    assert main(["sweep", "--preset", "quick", "--dry-run", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "attnbench: sweep from preset quick; flags override it"
    argv = ["sweep", "--variants", "lstm", "--seq-len", "3", "--batch", "2", "--hidden", "4", "--repeats", "1",
            "--warmup", "0", "--out", str(tmp_path / "c")]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().err.splitlines()[0].startswith("attnbench: sweep from the declared defaults")


def test_every_declared_axis_is_a_flag():
    from attnbench.params import AXES

    for axis in AXES:
        args = build_parser().parse_args(["sweep", f"--{axis.replace('_', '-')}", "4"])
        assert getattr(args, axis) == "4"
    spec = _spec("--tasks", "mqar", "--variants", "lstm", "--seq-len", "64", "--pairs", "none,8")
    assert spec.axes["pairs"] == ("none", 8)  # mqar's pairs takes none (T/16)
