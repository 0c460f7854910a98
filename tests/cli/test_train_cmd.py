"""``attnbench train``: a tiny run end to end, JSON summary, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

from attnbench.cli import main

TINY = ["--steps", "2", "--batch", "2", "--hidden", "4", "--eval-batches", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_writes_summary(tmp_path, capsys):
    path = tmp_path / "out.json"
    code = main(["train", "--variant", "sab", "--task", "copy", "--seq-len", "3", "-p", "k_top=2",
                 "--param", "k_att=2", "--json", str(path), *TINY])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "sab on copy[seq_len=3]: 2 steps" in out and "held-out accuracy" in out
    data = json.loads(path.read_text())
    assert data["variant"] == "sab" and data["variant_params"]["k_top"] == 2 and data["variant_params"]["k_att"] == 2
    assert data["task"] == "copy" and data["task_params"] == {"seq_len": 3} and data["seq_len"] == 23
    assert data["steps"] == 2 and data["metric"] == "accuracy" and data["chance"] == pytest.approx(0.125)
    for key in ("final_loss", "score", "transfer_scores", "wall_time_s", "history"):
        assert key in data
    assert data["config"]["optimizer"] == "adam" and data["config"]["lr"] == 1e-3 and data["config"]["clip"] == 1.0


def test_transfer_task_options_and_json_to_stdout(capsys):
    code = main(["train", "--variant", "lstm", "--task", "transfer_copy", "--seq-len", "2",
                 "--task-param", "eval_lens=4,6", "--optimizer", "rmsprop", "--json", "-", *TINY])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "transfer at seq_len=4" in captured.err and "transfer at seq_len=6" in captured.err
    data = json.loads(captured.out)  # stdout is the JSON alone
    assert set(data["transfer_scores"]) == {"4", "6"} and data["config"]["optimizer"] == "rmsprop"


def test_same_seed_same_result(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        assert main(["train", "--variant", "lstm", "--task", "adding", "--seq-len", "4", "--seed", "5",
                     "--json", str(path), *TINY]) == 0  # fmt: skip
    a, b = (json.loads(p.read_text()) for p in paths)
    assert a["history"] == b["history"] and a["score"] == b["score"]


BAD = [
    (["--variant", "lstm", "--task", "nope"], "unknown task 'nope'; known tasks: adding, copy"),
    (["--variant", "nope", "--task", "copy"], "unknown variant 'nope'"),
    (["--variant", "lstm", "--task", "copy", "--seq-len", "0"], "copy: seq_len=0 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--seq-len", "-4"], "copy: seq_len=-4 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--steps", "0"], "train_steps=0 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--batch", "-1"], "train_batch=-1 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--lr", "0"], "lr=0.0 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--hidden", "0"], "hidden_size=0 is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--steps", "x"], "argument --steps/--train-steps: invalid int value"),
    (["--variant", "lstm", "--task", "copy", "--optimizer", "sgd"], "invalid choice: 'sgd'"),
    (["--variant", "lstm", "--task", "digits", "--seq-len", "10"], "task 'digits' has no sequence-length"),
    (["--variant", "lstm", "--task", "copy", "-p", "k_trunc"], "expected NAME=VALUE"),
    (["--variant", "lstm", "--task", "copy", "-p", "k_top=3"], "unknown parameter 'k_top'"),
    (["--variant", "lstm", "--task", "copy", "-p", "k_trunc=0"], "k_trunc='0' is not allowed"),
    (["--variant", "lstm", "--task", "copy", "--task-param", "seq_len=3", "--seq-len", "3"], "give one"),
    (["--variant", "sab", "--task", "copy", "-p", "k_top=5", "-p", "max_mem=2"], "k_top=5 exceeds max_mem=2"),
    (["--variant", "lstm", "--task", "transfer_copy", "--seq-len", "50", "--task-param", "eval_lens=100,20"],
     "evaluation delay 20 is shorter than the training delay"),
    (["--variant", "lstm", "--task", "mnist", "--task-param", "path=/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--variant", "lstm", "--task", "copy", "--json", "/nonexistent/dir/out.json"], "does not exist"),
    (["--variant", "lstm", "--task", "copy", "--device", "cuda:0"] if not torch.cuda.is_available()
     else ["--variant", "lstm", "--task", "copy", "--device", "tpu9"], "--device"),
]  # fmt: skip


@pytest.mark.parametrize("argv, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    assert main(["train", *TINY, *argv]) == 2  # argv last: the later of a repeated option wins
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("attnbench: error: ") and "\n" not in err, err
    assert message in err
    assert "Traceback" not in captured.err + captured.out


def test_unreadable_idx_file_is_one_line_exit_2(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # fmt: skip
        (tmp_path / name).write_bytes(b"not an idx file")
    assert main(["train", "--variant", "lstm", "--task", "mnist", "--task-param", f"path={tmp_path}", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnbench: error: ") and "\n" not in err
    assert str(tmp_path / "train-images-idx3-ubyte") in err and "not an IDX file" in err


def test_a_diverged_run_says_where_and_writes_strict_json(tmp_path, capsys):
    path = tmp_path / "out.json"
    code = main(["train", "--variant", "lstm", "--task", "adding", "--seq-len", "5", "--steps", "20", "--batch", "4",
                 "--hidden", "16", "--lr", "1e30", "--clip", "0", "--no-progress", "--json", str(path)])  # fmt: skip
    assert code == 0
    assert "diverged at step " in capsys.readouterr().out
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert data["diverged_at"] >= 1 and data["score"] is None and data["final_loss"] is None


def test_the_json_summary_holds_every_run_column_of_a_results_row(tmp_path):
    from attnbench.config import run_column_names

    path = tmp_path / "out.json"
    assert main(["train", "--variant", "lstm", "--task", "copy", "--seq-len", "3", "--clip", "0.5",
                 "--json", str(path), *TINY]) == 0  # fmt: skip
    data = json.loads(path.read_text())
    assert set(run_column_names()) <= set(data)
    assert data["clip"] == 0.5 and data["optimizer"] == "adam" and data["train_batch"] == 2
    assert data["compile"] == "none" and data["config"]["clip"] == 0.5 and data["config"]["seed"] == 0
