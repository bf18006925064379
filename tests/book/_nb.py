"""Helpers shared by the book tests: the notebooks of _toc.yml and their cells."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from toc import toc_entries, toc_notebooks, toc_sources  # noqa: E402

__all__ = ["ROOT", "toc_entries", "toc_notebooks", "toc_sources", "load", "code_cells", "source", "tags", "shown",
           "INTERNAL_WORDS", "RAW_OUTPUT", "MAX_CODE_LINE"]


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and source(c).strip()]


# Words that belong to the project, not to the reader: the source papers' file numbers,
# issue numbers, the notes file, nbval's markers, the old placeholder author.
INTERNAL_WORDS = re.compile(
    r"\bseeds?\s+00[0-4]\b|\b00[0-4]['’]s\b|\bissues?\s+#?\d+\b|PAPER-NOTES|Authors not named"
    r"|\.\./shared|shared/seeds|(?-i:NBVAL)", re.I)
# Outputs a reader should not see: NumPy scalar reprs, warnings naming a local path.
RAW_OUTPUT = re.compile(r"np\.(float|int)\d*\(|\w+Warning: .*|/site-packages/|/work/|/home/")
# PEP 8's line length; at the book's 13 px code font it fits a 1280 px window's column.
MAX_CODE_LINE = 79


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def shown(cell: dict) -> bool:
    """Whether the page shows the cell's source (collapsed counts as shown)."""
    return not {"remove-cell", "remove-input"} & set(tags(cell))
