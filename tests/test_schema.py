"""The results schema: documented, and the documentation kept in step with the code."""

from __future__ import annotations

from pathlib import Path

from attnbench.schema import COLUMNS, METRIC_COLUMNS, SCHEMA_VERSION, empty_row, schema_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def test_docs_hold_the_current_tables():
    assert schema_markdown() in DOC.read_text(), "docs/schema.md is stale: run python scripts/schema_doc.py"


def test_every_column_documented_once_with_units():
    assert len(COLUMNS) == len(set(COLUMNS))
    assert all(unit and doc for unit, doc in METRIC_COLUMNS.values())
    assert set(empty_row()) == set(COLUMNS) and SCHEMA_VERSION >= 1
