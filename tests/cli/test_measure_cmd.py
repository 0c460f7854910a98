"""`attnbench measure`: a readable summary, the row as JSON, one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from attnbench.cli import main
from attnbench.schema import COLUMNS
from tests.measure.conftest import tiny_task  # noqa: F401  (fixture)

FAST = ["--seq-len", "6", "--batch", "2", "--hidden", "4", "--repeats", "2", "--warmup", "0"]


def test_summary_and_json_row(tiny_task, tmp_path, capsys) -> None:  # noqa: F811
    path = tmp_path / "row.json"
    code = main(["measure", "--variant", "sab", "--task", tiny_task, "-p", "k_att=2", *FAST, "--json", str(path)])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("sab[k_att=2] on tiny_copy[seq_len=6]: T=6, batch 2, hidden 4, cpu float32")
    for word in ("forward", "train step", "saved", "FLOPs", "grad reach", "missing:", "energy_j, power_w"):
        assert word in out
    row = json.loads(path.read_text())
    assert set(row) == set(COLUMNS)
    assert row["status"] == "ok" and json.loads(row["variant_params"])["k_att"] == 2


def test_json_to_stdout_is_only_json(tiny_task, capsys) -> None:  # noqa: F811
    assert main(["measure", "--variant", "lstm", "--task", tiny_task, *FAST, "--no-reach", "--json", "-"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["grad_reach"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "quantum"], "unknown device"),
        (["--dtype", "int3"], "unknown dtype"),
        (["-p", "k_top"], "expected NAME=VALUE"),
        (["-p", "k_top=0"], "k_top='0' is not allowed"),
        (["--repeats", "0"], "repeats=0 is not allowed"),
        (["--compile", "fast"], "fast"),
        (["--json", "/no/such/dir/row.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_task, capsys, extra: list[str], message: str) -> None:  # noqa: F811
    assert main(["measure", "--variant", "sab", "--task", tiny_task, *FAST, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnbench: error: ") and err.count("\n") == 1
    assert message in err


def test_unknown_variant_lists_the_known_ones(tiny_task, capsys) -> None:  # noqa: F811
    assert main(["measure", "--variant", "nope", "--task", tiny_task, *FAST]) == 2
    assert "known variants: dense" in capsys.readouterr().err


def test_summary_shows_a_newly_declared_metric_without_a_layout_of_its_own(monkeypatch) -> None:
    from attnbench.cli import measure_cmd
    from attnbench.metrics import COLUMN_METRICS, Metric

    extra = Metric("widgets_per_s", "1/s", "widgets made per second", "higher")
    monkeypatch.setattr(measure_cmd, "COLUMN_METRICS", (*COLUMN_METRICS, extra))
    row = dict.fromkeys(COLUMNS) | {"label": "lstm", "task": "copy", "task_params": "{}", "status": "ok"}
    row |= {f"{p}_{s}": v for p in ("fwd_time", "step_time") for s, v in (("s", 1.0), ("iqr_s", 0.0), ("n", 1))}
    row["widgets_per_s"] = 2500.0
    text = measure_cmd.summary(row)
    assert "widgets_per_s 2.5 k1/s (widgets made per second)" in text
    assert "saved_bytes" not in text.replace("saved  ", "")  # laid out metrics are not repeated


def test_a_batch_that_cannot_fit_is_refused_before_anything_is_built(tiny_task, capsys) -> None:  # noqa: F811
    assert main(["measure", "--variant", "lstm", "--task", tiny_task, *FAST, "--batch", "100000000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnbench: error: batch 100000000000 needs at least ") and err.count("\n") == 1
    assert "GiB available; lower --batch" in err


def test_running_out_of_memory_is_one_line(tiny_task, capsys, monkeypatch) -> None:  # noqa: F811
    import attnbench.cli.measure_cmd as cmd
    import attnbench.measure

    def out_of_memory(point, options):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(cmd, "guard_host_memory", lambda device: None)  # not in the test process itself
    monkeypatch.setattr(attnbench.measure, "measure", out_of_memory)
    assert main(["measure", "--variant", "lstm", "--task", tiny_task, *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("attnbench: error: out of memory measuring batch 2 on cpu (") and err.count("\n") == 1


def test_the_host_memory_guard_makes_an_allocation_fail_instead_of_the_oom_killer() -> None:
    import subprocess
    import sys

    code = (
        "import attnbench.cli.measure_cmd as cmd, torch\n"
        "real = cmd._meminfo\n"
        "cmd._meminfo = lambda f: 100 * 2**20 if f == 'MemAvailable' else real(f)\n"
        "cmd.guard_host_memory('cpu')\n"
        "try:\n"
        "    torch.ones(2**28)\n"  # 1 GiB, past the 100 MiB said to be free
        "except RuntimeError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "refused:" in done.stdout and "allocate" in done.stdout, done.stderr
