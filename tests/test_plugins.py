"""Plugins from outside packages: a broken or clashing plugin is reported, everything else keeps working.

Each test installs throw-away distributions (``<name>-0.1.dist-info`` with METADATA and
entry_points.txt, plus their modules) into a temporary directory on ``sys.path``, reloads the
registries' plugins, and removes it all again afterwards.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from attnbench.cli import main
from attnbench.registry import UnknownNameError
from attnbench.tasks import TASKS
from attnbench.variants import VARIANTS, build_variant, get_variant, list_variants
from attnbench.variants.lstm import LSTM

GOOD_VARIANT = """
from torch import nn
from attnbench.variants import RecurrentVariant, VariantOutput


class Echo(RecurrentVariant):
    description = "a per-step linear map (test plugin)"

    def build(self):
        self.head = nn.Linear(self.input_size, self.output_size)

    def forward(self, x, *, diagnostics=False):
        self.check_input(x)
        return VariantOutput(self.head(x))
"""

FLAT_OUTPUT = """
from torch import nn
from attnbench.variants import RecurrentVariant, VariantOutput


class Flat(RecurrentVariant):
    description = "returns (B, C): forgot the time axis (test plugin)"

    def build(self):
        self.head = nn.Linear(self.input_size, self.output_size)

    def forward(self, x, *, diagnostics=False):
        return VariantOutput(self.head(x[:, -1]))
"""

BAD_DEFAULT = """
from torch import nn
from attnbench.params import Param
from attnbench.variants import RecurrentVariant, VariantOutput


class BadDefault(RecurrentVariant):
    description = "a default outside its own bounds (test plugin)"
    params = (Param("memory", 0, int, low=1, axis="memory", help="slots"),)

    def build(self):
        self.head = nn.Linear(self.input_size, self.output_size)

    def forward(self, x, *, diagnostics=False):
        return VariantOutput(self.head(x))
"""

IMPOSTOR = """
from attnbench.variants.lstm import LSTM


class Impostor(LSTM):
    description = "claims the name of a built-in"
"""

CLAIMS_AT_IMPORT = """
from attnbench.variants import register_variant
from attnbench.variants.dense import Dense


@register_variant(name="dense")
class Clash(Dense):
    description = "registers a taken name when imported"
"""


@dataclass
class FakeSite:
    """Where the fake distributions live and the module names they use."""

    path: Path
    modules: dict[str, str]  # role -> module name (unique per test: sys.modules caches imports)


def _distribution(site: Path, name: str, entry_points: dict[str, list[str]]) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, eps in entry_points.items():
        lines += [f"[{group}]", *eps, ""]
    (info / "entry_points.txt").write_text("\n".join(lines))


def _reload() -> None:
    VARIANTS.reload_plugins()
    TASKS.reload_plugins()


@pytest.fixture
def fake_site(tmp_path: Path) -> Iterator[FakeSite]:
    tag = uuid.uuid4().hex[:8]
    roles = ("good", "broken", "impostor", "clash", "task", "flat", "baddefault")
    modules = {role: f"attnbench_test_{role}_{tag}" for role in roles}
    sources = {
        "good": GOOD_VARIANT,
        "broken": "raise RuntimeError('boom: this plugin needs a CUDA toolkit')\n",
        "impostor": IMPOSTOR,
        "clash": CLAIMS_AT_IMPORT,
        "task": "import attnbench_no_such_dependency\n",
        "flat": FLAT_OUTPUT,
        "baddefault": BAD_DEFAULT,
    }
    for role, source in sources.items():
        (tmp_path / f"{modules[role]}.py").write_text(textwrap.dedent(source))
    group = "attnbench.variants"
    _distribution(tmp_path, "demo-good", {group: [f"echo_demo = {modules['good']}:Echo"]})
    _distribution(tmp_path, "demo-broken", {group: [f"broken_demo = {modules['broken']}:Broken"]})
    _distribution(tmp_path, "demo-impostor", {group: [f"lstm = {modules['impostor']}:Impostor"]})
    _distribution(tmp_path, "demo-clash", {group: [f"clash_demo = {modules['clash']}:Clash"]})
    _distribution(tmp_path, "demo-flat", {group: [f"flat_demo = {modules['flat']}:Flat"]})
    _distribution(tmp_path, "demo-baddefault", {group: [f"baddefault_demo = {modules['baddefault']}:BadDefault"]})
    _distribution(tmp_path, "demo-task", {"attnbench.tasks": [f"task_demo = {modules['task']}:Task"]})
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        _reload()
        yield FakeSite(tmp_path, modules)
    finally:
        sys.path.remove(str(tmp_path))
        for name in modules.values():
            sys.modules.pop(name, None)
        importlib.invalidate_caches()
        _reload()


def _list_output(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["list", *args]) == 0
    return capsys.readouterr().out


def _failure_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "! plugin failed:" in line]


def test_list_reports_a_plugin_that_fails_to_import(fake_site, capsys):
    lines = _failure_lines(_list_output(capsys, "variants"))
    [line] = [line for line in lines if "demo-broken" in line]
    assert "broken_demo" in line
    assert "RuntimeError: boom: this plugin needs a CUDA toolkit" in line


def test_list_reports_a_plugin_that_takes_a_builtin_name(fake_site, capsys):
    lines = _failure_lines(_list_output(capsys, "variants"))
    [line] = [line for line in lines if "demo-impostor" in line]
    assert "'lstm' is already taken by attnbench" in line
    [line] = [line for line in lines if "demo-clash" in line]  # takes the name while being imported
    assert "'dense' is already taken by attnbench" in line


def test_list_reports_a_task_plugin_with_a_missing_dependency(fake_site, capsys):
    [line] = _failure_lines(_list_output(capsys, "tasks"))
    assert "demo-task" in line and "attnbench.tasks" in line
    assert "ModuleNotFoundError" in line and "attnbench_no_such_dependency" in line


def test_builtins_and_working_plugins_keep_working(fake_site, capsys):
    out = _list_output(capsys)
    assert "  lstm: plain LSTM" in out  # the built-in description, not the impostor's
    assert "  echo_demo  (from plugin package demo-good): a per-step linear map" in out
    assert get_variant("lstm") is LSTM
    assert "broken_demo" not in list_variants() and "clash_demo" not in list_variants()
    x = torch.randn(2, 7, 3)
    for name in ("lstm", "dense", "echo_demo"):
        model = build_variant(name, 3, 4, 8)
        model(x).logits.sum().backward()
    with pytest.raises(UnknownNameError, match=r"unknown variant 'broken_demo'; known variants: .*echo_demo"):
        get_variant("broken_demo")


def test_reload_forgets_plugins_that_are_gone(fake_site, capsys):
    assert "echo_demo" in list_variants() and VARIANTS.plugin_errors
    sys.path.remove(str(fake_site.path))
    try:
        _reload()
        assert "echo_demo" not in list_variants()
        assert not [e for e in VARIANTS.plugin_errors if e.package.startswith("demo-")]
        # plugins installed in this environment may fail too: only the demo ones must be gone
        assert not [line for line in _failure_lines(_list_output(capsys)) if "demo-" in line]
    finally:
        sys.path.insert(0, str(fake_site.path))


def test_every_installed_plugin_is_registered_or_reported():
    """Whatever is installed in this environment (attnbench-fox in CI) is either usable or explained."""
    for registry in (VARIANTS, TASKS):
        registry.names()
        failed = {(e.package, e.entry_point.split(" = ")[0]) for e in registry.plugin_errors}
        for ep in importlib.metadata.entry_points(group=registry.group):
            package = ep.dist.name if ep.dist is not None else "unknown package"
            loaded_or_reported = ep.name in registry or (package, ep.name) in failed
            assert loaded_or_reported, f"{package}: {ep.name} neither loaded nor reported"


def test_a_plugin_with_a_default_outside_its_bounds_fails_at_load_and_nothing_else_breaks(fake_site, capsys, tmp_path):
    [line] = [line for line in _failure_lines(_list_output(capsys, "variants")) if "demo-baddefault" in line]
    assert "baddefault_demo" in line and "default" in line and "memory=0" in line
    assert "baddefault_demo" not in list_variants()
    from attnbench.report.scaling import declared_exponents
    from tests.report.conftest import tiny_results

    assert "lstm" in set(declared_exponents()["variant"])
    results = tiny_results(tmp_path / "results")
    assert main(["report", str(results), "-o", str(tmp_path / "report")]) == 0


def test_a_registered_class_with_a_bad_default_does_not_break_the_report(monkeypatch):
    from attnbench.params import Param
    from attnbench.report.scaling import declared_exponents

    class Bad(LSTM):
        params = (Param("memory", 0, int, low=1, axis="memory", help="slots"),)

    monkeypatch.setitem(VARIANTS._items, "bad_from_code", Bad)
    monkeypatch.setitem(VARIANTS._origin, "bad_from_code", "test")
    table = declared_exponents()
    assert "lstm" in set(table["variant"]) and "bad_from_code" in set(table["variant"])


def test_a_variant_that_failed_to_load_is_named_with_the_reason(fake_site, capsys):
    from tests.cli.test_train_cmd import TINY

    assert main(["train", *TINY, "--variant", "broken_demo", "--task", "copy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unknown variant 'broken_demo'" in err
    assert "'broken_demo' failed to load from plugin package demo-broken" in err
    assert "boom: this plugin needs a CUDA toolkit" in err


@pytest.mark.parametrize("command", ["train", "measure"])
def test_a_variant_returning_the_wrong_shape_is_named_with_its_package(fake_site, capsys, command):
    from tests.cli.test_train_cmd import TINY

    argv = [*TINY, "--variant", "flat_demo", "--task", "copy"]
    if command == "measure":
        argv = ["--variant", "flat_demo", "--task", "copy", "--seq-len", "3", "--batch", "2", "--hidden", "4",
                "--repeats", "1", "--warmup", "0", "--no-reach"]  # fmt: skip
    assert main([command, *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "variant 'flat_demo' (from plugin package demo-flat) returned logits of shape (" in err
    assert "expected (B, T, C)" in err


def test_the_output_check_runs_once_and_leaves_good_variants_alone():
    model = build_variant("lstm", 3, 4, 8)
    assert model._output_check.id in model._forward_hooks
    model(torch.randn(2, 5, 3))
    assert model._output_check.id not in model._forward_hooks


# plugin API 1: a task and a variant written before the validation split existed (frozen: see the module)
OLD_CONTRACT = {
    "attnbench.tasks": ["old_sum = tests.plugins.old_contract:OldSum"],
    "attnbench.variants": ["old_cell = tests.plugins.old_contract:OldCell"],
}


@pytest.fixture
def old_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tests/plugins/old_contract.py installed as a plugin package (for this process and its children)."""
    from attnbench.tasks import base

    monkeypatch.setattr(base, "_VALIDATION_SPLIT", {})  # each test asks afresh (and sees the notice)
    site = tmp_path / "site"
    site.mkdir()
    _distribution(site, "old-contract", OLD_CONTRACT)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        _reload()
        yield site
    finally:
        sys.path.remove(str(site))
        importlib.invalidate_caches()
        _reload()


def test_an_old_contract_task_trains_with_validation_through_train_and_one_notice(old_contract):
    from attnbench.config import Options, Point
    from attnbench.tasks import PluginContractWarning, get_task, validation_split
    from attnbench.training import train_point

    assert {"old_sum", "old_cell"} <= set(TASKS.names()) | set(list_variants())
    point = Point.make("old_cell", "old_sum", seq_len=4, batch=2, hidden_size=4)
    with pytest.warns(PluginContractWarning, match=r"task 'old_sum' .*does not take split='valid' \(plugin API 1\)"):
        result = train_point(point, Options(train_steps=4, train_batch=2, eval_batches=1, curve_points=2))
    assert result.curve and all(score == score for _, _, score in result.curve)  # scored, not NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per task: the second run says nothing
        train_point(point, Options(train_steps=2, train_batch=2, eval_batches=1))
    assert validation_split(get_task("copy")(seq_len=3)) == "valid"  # a built-in is taken at its word


def test_validation_batches_of_an_old_contract_task_come_from_a_stream_of_their_own(old_contract):
    from attnbench.tasks import build_task, validation_split
    from attnbench.training import VALID_SEED_OFFSET

    task = build_task("old_sum", seq_len=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = validation_split(task)
    assert split == "train"
    seed = 3
    x_train, _ = task.sample(2, torch.Generator().manual_seed(seed), split="train")
    x_valid, _ = task.sample(2, torch.Generator().manual_seed(seed + VALID_SEED_OFFSET), split=split)
    assert not torch.equal(x_train, x_valid)


def test_an_old_contract_point_measures_as_a_sweep_worker_measures_it(old_contract):
    from attnbench.config import Options, Point
    from attnbench.measure import measure

    point = Point.make("old_cell", "old_sum", seq_len=4, batch=2, hidden_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notice is the test above's
        row = measure(point, Options(warmup=0, repeats=1, train_steps=4, train_batch=2, eval_batches=1))
    assert row["status"] == "ok" and row["val_score"] is not None and row["score"] is not None
    assert row["grad_reach"] is not None  # the variant's diagnostics, as plugin API 1 documented them


@pytest.mark.slow
def test_an_old_contract_task_and_variant_sweep_and_report(old_contract, tmp_path):
    import os
    import subprocess

    from attnbench.results import load

    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(old_contract), str(Path(__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    argv = ["sweep", "--variants", "lstm,old_cell", "--tasks", "old_sum", "--seq-len", "4", "--seeds", "0",
            "--batch", "2", "--hidden", "4", "--repeats", "1", "--warmup", "0", "--train-steps", "4",
            "--train-batch", "2", "--eval-batches", "1", "--workers", "1", "--no-progress",
            "--out", str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "attnbench", *argv], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = load(out)
    assert set(rows["variant"]) == {"lstm", "old_cell"} and (rows["status"] == "ok").all(), rows["error"].tolist()
    assert rows["val_score"].notna().all() and rows["score"].notna().all()
    assert main(["report", str(out), "-o", str(tmp_path / "report")]) == 0
