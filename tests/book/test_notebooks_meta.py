"""Static checks on the committed notebooks: nbval alone would not catch these.

An unexecuted notebook "passes" nbval in lax mode (there is nothing to compare), so we
require saved outputs; we also pin the kernel, require PNG figures, the setup cell and
at least one assert per chapter, and forbid `pip install` in the book.
"""
from __future__ import annotations

import re

import pytest

from ._nb import ROOT, code_cells, load, source, toc_notebooks, toc_sources

NOTEBOOKS = toc_notebooks()
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def test_toc_entries_exist_and_every_book_notebook_is_listed():
    listed = {p.resolve() for p in toc_sources()}           # raises if an entry is missing
    on_disk = {p.resolve() for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert on_disk - listed == set(), "notebooks under book/ that _toc.yml does not list"
    assert NOTEBOOKS, "the book has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_executed_and_clean(path):
    nb = load(path)
    cells = code_cells(nb)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all(c.get("execution_count") for c in cells), "code cells without saved outputs: run the notebook"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), "cells were executed out of order"
    for c in cells:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"saved error output in {path.name}"
            assert "image/svg+xml" not in out.get("data", {}), "figures must be PNG"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_follows_the_book_style(path):
    nb = load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).lstrip().startswith("# "), "open with a title"
    cells = code_cells(nb)
    setup = source(cells[0])
    assert setup.startswith("# NBVAL_IGNORE_OUTPUT") and "savlib.setup(" in setup, \
        "the first code cell is the setup helper, its output ignored by nbval"
    text = "\n".join(source(c) for c in nb["cells"])
    assert not re.search(r"^\s*[!%]\s*pip\b", text, flags=re.M), "no pip install in the book"
    assert any(re.search(r"^\s*assert\b", source(c), flags=re.M) for c in cells), "claims need asserts"
    assert "What the paper claims" in text, "end with 'What the paper claims / what we measured'"
