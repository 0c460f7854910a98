"""Regenerate the tables of docs/schema.md from attnbench.schema (whose metrics come from attnbench.metrics).

    python scripts/schema_doc.py          # rewrite docs/schema.md in place
    python scripts/schema_doc.py --check  # exit 1 if it is stale (tests/test_schema.py checks the same)

Everything from the line "Schema version N." to the end of the file is generated; the prose above it
is written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from attnbench.schema import schema_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def generated(text: str) -> str:
    """``text`` with its generated part replaced by the current tables."""
    head, sep, _ = text.partition("\nSchema version ")
    if not sep:
        raise SystemExit(f"{DOC}: no 'Schema version' line to regenerate from")
    return head + "\n" + schema_markdown()


def main(argv: list[str]) -> int:
    """Rewrite or check docs/schema.md."""
    text = DOC.read_text()
    new = generated(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} is stale: run python scripts/schema_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
