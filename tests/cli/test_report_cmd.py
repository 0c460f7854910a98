"""`attnbench report PATH... -o DIR`: writes the report; bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import pytest

from attnbench.cli import main
from tests.report.conftest import tiny_results


def test_report_writes_index_summary_and_figures(tmp_path, capsys):
    results = tiny_results(tmp_path / "results")
    out = tmp_path / "reports" / "mine"
    assert main(["report", str(results), "-o", str(out), "--title", "My <report>"]) == 0
    assert f"wrote {out / 'index.html'}" in capsys.readouterr().out
    assert (out / "summary.md").exists() and list((out / "figures").glob("*.png"))
    page = (out / "index.html").read_text()
    assert "<title>My &lt;report&gt;</title>" in page
    assert f"Regenerate with: attnbench report {results} -o {out} --title &#x27;My &lt;report&gt;&#x27;" in page


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda tmp: tmp / "missing", "no such results directory"),
        (lambda tmp: tmp, "is neither an attnbench results directory"),
        (lambda tmp: (tmp / "empty" / "points").mkdir(parents=True) or tmp / "empty", "no result rows"),
    ],
    ids=["missing", "not-results", "no-rows"],
)
def test_bad_path_is_one_line_exit_2(tmp_path, capsys, make, needle):
    path = make(tmp_path)
    assert main(["report", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnbench: error: ") and err.count("\n") == 1
    assert needle in err and str(path) in err


def test_output_folder_is_required(capsys):
    assert main(["report", "somewhere"]) == 2
    assert "-o/--out" in capsys.readouterr().err


def test_commit_of_asv_results_is_chosen_and_named(tmp_path, capsys):
    from tests.report.conftest import ASV

    out = tmp_path / "asv-report"
    assert main(["report", str(ASV), "-o", str(out), "--commit", "aaaaaaaa"]) == 0
    page = (out / "index.html").read_text()
    assert "read commit aaaaaaaa (asked for" in page and "--commit aaaaaaaa" in page
    capsys.readouterr()
    assert main(["report", str(ASV), "-o", str(out), "--commit", "cccc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "commit 'cccc' is not in the asv results" in err
