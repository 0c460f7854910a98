"""Whole reports from the stored fixtures: every figure linked and present, failures shown, labels escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnbench.errors import UsageError
from attnbench.report import build_report

from .conftest import tiny_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def linked_images(index: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', index.read_text())


def check_figures(index: Path) -> list[str]:
    """Every linked image exists and is a PNG; every PNG written is linked from both files."""
    links = linked_images(index)
    assert links, "the report links no figure"
    for link in links:
        assert not link.startswith(("/", "http:", "https:", "file:")), link  # relative: opens offline
        data = (index.parent / link).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, link
    written = sorted(p.relative_to(index.parent).as_posix() for p in (index.parent / "figures").glob("*.png"))
    assert sorted(links) == written
    summary = (index.parent / "summary.md").read_text()
    assert sorted(re.findall(r"\]\((figures/[^)]+\.png)\)", summary)) == written
    return links


def test_sweep_report_links_every_figure_it_holds(sweep_report):
    links = check_figures(sweep_report)
    names = {Path(link).stem for link in links}
    assert {"status-copy", "scaling-copy", "reach-copy", "threeway-copy"} <= names
    assert {f"pareto-copy-{c}" for c in ("step-time-s", "saved-bytes", "rss-peak-bytes", "flops-step")} <= names


def test_sweep_report_shows_failed_points_with_their_status(sweep_report):
    page = sweep_report.read_text()
    failed = page[page.index("points that failed") :]
    failed = failed[: failed.index("</table>")]
    for status, who in (("oom", "dense"), ("timeout", "rsm[nu=10,rho=15]"), ("error", "sab[k_att=10")):
        assert re.search(rf"<td>{re.escape(who)}[^<]*</td><td>\d+</td><td>{status}</td>", failed), status
    assert "shapes &lt;3&gt; and &lt;4&gt; differ" in failed  # the error message, escaped
    assert "points not run (1 row)" in page


def test_summary_holds_the_front_tables_and_exponents(sweep_report):
    summary = (sweep_report.parent / "summary.md").read_text()
    assert "*front: accuracy against training-step time (s)*" in summary
    assert "| 120 | sab\\[k\\_att=10,k\\_top=5,k\\_trunc=10,max\\_mem=4\\] | 0.9 | 12.8 ms |" in summary
    assert "| 30 | rsm\\[nu=10,rho=15\\] | 0.97 |" in summary
    assert re.search(
        r"\| dense \| FLOPs per training step \(FLOP\) \| 30–60 \(2\) \| 2\.00 \| 2\.00 \| 2\.00 \| ok \|", summary
    )
    assert "Expected exponents" in summary


def test_asv_report_builds_from_the_asv_fixture(asv_report):
    check_figures(asv_report)
    page = asv_report.read_text()
    assert "sab[max_mem=8]" in page and "asv benchmark failed" in page
    assert "newest commit" in page


def test_no_accuracy_says_so_and_still_draws_scaling_and_reach(tmp_path):
    index = build_report([tiny_results(tmp_path / "r", score=None)], tmp_path / "out")
    page = index.read_text()
    assert "hold no accuracy" in page and "train_steps &gt; 0" in page
    names = {Path(link).stem for link in check_figures(index)}
    assert names == {"status-copy", "scaling-copy", "reach-copy"}


def test_a_variant_name_with_markup_is_escaped_everywhere(tmp_path):
    evil = '<img src=x onerror="alert(1)">$x$|'
    index = build_report([tiny_results(tmp_path / "r", variant=evil)], tmp_path / "out", title="<b>t</b>")
    page = index.read_text()
    assert "<img src=x" not in page and 'onerror="alert' not in page and "<b>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;$x$|" in page
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert '\\<img src=x onerror="alert(1)"\\>$x$\\|' in summary
    check_figures(index)


def test_damaged_file_warns_and_reports_the_rest(damaged_report):
    index, warned = damaged_report
    assert any("skipped 1 damaged record(s)" in w for w in warned)
    page = index.read_text()
    assert "Read 2 points" in page and "skipped 1 damaged record(s)" in page
    check_figures(index)


def test_a_task_where_every_point_failed_still_reports_them(tmp_path):
    from attnbench.results import ResultsDir

    store = ResultsDir(tmp_path / "r")
    for t, status in ((20, "oom"), (40, "timeout")):
        store.write(
            {
                "point_id": f"p{t}",
                "label": "dense",
                "variant": "dense",
                "task": "copy",
                "seq_len": t,
                "status": status,
                "error": f"{status} at T={t}",
            }
        )
    index = build_report([tmp_path / "r"], tmp_path / "out")
    page = index.read_text()
    assert "No point of this task was measured" in page and "oom at T=20" in page and "timeout at T=40" in page
    assert {Path(link).stem for link in check_figures(index)} == {"status-copy"}


def test_rebuilding_removes_stale_figures_only(tmp_path):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "stale.png").write_bytes(PNG_MAGIC)
    (out / "notes.txt").write_text("mine")
    build_report([tiny_results(tmp_path / "r")], out)
    assert not (out / "figures" / "stale.png").exists() and (out / "notes.txt").read_text() == "mine"


def test_output_path_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is not a folder"):
        build_report([tiny_results(tmp_path / "r")], tmp_path / "file")
