"""The built-in presets: each one expands, plugin-smoke for any variant, and `sweep --help` names them all."""

from __future__ import annotations

import pytest

from attnbench.cli import build_parser
from attnbench.cli.sweep_cmd import build_spec
from attnbench.sweep import expand, preset_names
from attnbench.variants import list_variants


def _spec(*argv: str):
    args = build_parser().parse_args(["sweep", *argv])
    return build_spec(args)[0]


@pytest.mark.parametrize("variant", sorted(set(list_variants()) - {"lstm"}))
def test_plugin_smoke_expands_beside_lstm_for_every_variant(variant):
    """What docs/plugins.md recommends, whatever the variant's memory parameter takes."""
    points = expand(_spec("--preset", "plugin-smoke", "--variants", f"lstm,{variant}"))
    assert {p.variant for p in points} == {"lstm", variant}


def test_sweep_help_names_every_preset(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in preset_names():
        assert name in text
