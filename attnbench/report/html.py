"""The report as a document model, written as ``index.html`` (offline, escaped) and ``summary.md``.

Both files are rendered from one :class:`Document`, so they always say the same thing. Every piece of
text from the results (variant names, labels, error messages) is plain text here and escaped on the
way out: ``html.escape`` for HTML, backslash escapes for Markdown.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class FigureRef:
    """A PNG beside the report (``path`` relative to the report folder) and what it shows."""

    path: str
    caption: str


@dataclass
class Table:
    """A small table of display strings."""

    frame: pd.DataFrame
    caption: str = ""
    collapsed: bool = False  # HTML shows it folded (details/summary)


@dataclass
class Section:
    """A titled part of the report: paragraphs, then figures, then tables, then subsections."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    warning: bool = False  # paragraphs are notices the reader must not miss


@dataclass
class Document:
    """The whole report."""

    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1400px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
table { border-collapse: collapse; margin: .6rem 0 1.4rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.warning { background: #fff4e5; border-left: 4px solid #e08214; padding: .5rem .8rem; }
nav ul { columns: 2; } code { background: #f4f4f4; padding: 0 .2rem; }
"""


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, k = base, 2
    while slug in used:
        slug, k = f"{base}-{k}", k + 1
    used.add(slug)
    return slug


def _html_table(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in table.frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
        for row in table.frame.itertuples(index=False)
    )
    body = f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if table.collapsed:
        n = len(table.frame)
        summary = esc(table.caption or "table") + f" ({n} row{'' if n == 1 else 's'})"
        return f"<details><summary>{summary}</summary><table>{body}</details>"
    caption = f"<caption>{esc(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}{body}"


def _html_section(section: Section, level: int, used: set[str], toc: list[tuple[int, str, str]]) -> str:
    esc = html.escape
    slug = _slug(section.title, used)
    toc.append((level, slug, section.title))
    parts = [f'<section id="{slug}"><h{level}>{esc(section.title)}</h{level}>']
    css = ' class="warning"' if section.warning else ""
    parts += [f"<p{css}>{esc(p)}</p>" for p in section.paragraphs]
    for fig in section.figures:
        parts.append(
            f'<figure><img src="{esc(fig.path)}" alt="{esc(fig.caption)}">'
            f"<figcaption>{esc(fig.caption)}</figcaption></figure>"
        )
    parts += [_html_table(t) for t in section.tables]
    parts += [_html_section(child, min(level + 1, 6), used, toc) for child in section.children]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(doc: Document) -> str:
    """The document as one self-contained HTML page (figures referenced beside it, no network)."""
    esc = html.escape
    used: set[str] = set()
    toc: list[tuple[int, str, str]] = []
    body = "\n".join(_html_section(s, 2, used, toc) for s in doc.sections)
    nav = "".join(f'<li><a href="#{slug}">{esc(title)}</a></li>' for level, slug, title in toc if level == 2)
    intro = "".join(f"<p>{esc(p)}</p>" for p in doc.intro)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(doc.title)}</title><style>{CSS}</style></head>\n"
        f"<body><h1>{esc(doc.title)}</h1>{intro}<nav><ul>{nav}</ul></nav>\n{body}\n</body></html>\n"
    )


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: object) -> str:
    """Text that Markdown shows literally (no emphasis, links, HTML or table breaks)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("&", "&amp;")).replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    cols = [md_escape(c) for c in table.frame.columns]
    lines = [f"*{md_escape(table.caption)}*", ""] if table.caption else []
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in table.frame.itertuples(index=False)]
    return [*lines, ""]


def _md_section(section: Section, level: int) -> list[str]:
    lines = ["#" * level + " " + md_escape(section.title), ""]
    for p in section.paragraphs:
        lines += [("> **Note:** " if section.warning else "") + md_escape(p), ""]
    for fig in section.figures:
        lines += [f"![{md_escape(fig.caption)}]({fig.path})", ""]
    for table in section.tables:
        lines += _md_table(table)
    for child in section.children:
        lines += _md_section(child, min(level + 1, 6))
    return lines


def render_markdown(doc: Document) -> str:
    """The document as Markdown (the same text and tables, figures linked)."""
    lines = ["# " + md_escape(doc.title), ""]
    for p in doc.intro:
        lines += [md_escape(p), ""]
    for section in doc.sections:
        lines += _md_section(section, 2)
    return "\n".join(lines).rstrip() + "\n"


def write(doc: Document, out_dir: Path) -> Path:
    """Write ``index.html`` and ``summary.md`` into ``out_dir``; returns the path of index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.md").write_text(render_markdown(doc), encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(render_html(doc), encoding="utf-8")
    return index


__all__ = ["Document", "FigureRef", "Section", "Table", "md_escape", "render_html", "render_markdown", "write"]
