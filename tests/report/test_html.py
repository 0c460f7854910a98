"""The document renders to escaped HTML and Markdown that say the same thing."""

from __future__ import annotations

import pandas as pd

from attnbench.report.html import Document, FigureRef, Section, Table, md_escape, render_html, render_markdown

EVIL = '<script>alert("x")</script> & a|b *c* [d](e)'


def doc() -> Document:
    table = Table(pd.DataFrame({"configuration": [EVIL], "score": ["0.9"]}), caption=f"front of {EVIL}")
    section = Section(
        f"Task {EVIL}",
        [f"text {EVIL}"],
        figures=[FigureRef("figures/a.png", f"caption {EVIL}")],
        tables=[table],
        children=[Section("child", ["more"], tables=[Table(table.frame, "folded", collapsed=True)])],
    )
    return Document(f"title {EVIL}", [f"intro {EVIL}"], [section, Section("Notices", ["careful"], warning=True)])


def test_html_escapes_every_label():
    page = render_html(doc())
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # <title> and <h1>, intro, nav, heading, paragraph, alt and figcaption, table caption, two table cells
    assert page.count("&lt;script&gt;") == 11
    assert '<img src="figures/a.png" alt="caption &lt;script&gt;' in page
    assert "<details><summary>folded (1 row)</summary>" in page
    assert 'class="warning"' in page and page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page  # opens offline


def test_markdown_escapes_markup_and_table_breaks():
    text = render_markdown(doc())
    assert "<script>" not in text and "\\<script\\>" in text
    assert "a\\|b" in text and "\\*c\\*" in text and "\\[d\\](e)" in text
    assert "![caption" in text and "](figures/a.png)" in text
    assert "> **Note:** careful" in text
    row = next(line for line in text.splitlines() if line.startswith("| ") and "script" in line)
    assert row.count(" | ") == 1  # the pipe in the label did not split the cell


def test_md_escape_newlines_and_ampersands():
    assert md_escape("a\nb & c") == "a b &amp; c"
