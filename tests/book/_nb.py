"""Helpers shared by the book tests: the notebooks of _toc.yml and their cells."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from toc import toc_entries, toc_notebooks, toc_sources  # noqa: E402

__all__ = ["ROOT", "toc_entries", "toc_notebooks", "toc_sources", "load", "code_cells", "source"]


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and source(c).strip()]
