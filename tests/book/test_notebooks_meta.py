"""Static checks on the committed notebooks: nbval alone would not catch these.

An unexecuted notebook "passes" nbval in lax mode (there is nothing to compare), so we
require saved outputs; we also pin the kernel, require PNG figures, the setup cell and
at least one assert per chapter, and forbid `pip install` in the book except in the
install cell that lets a chapter run on Colab; and the book's style rules that can be read
from the notebook itself (the browser check of the built book covers the rest).
"""
from __future__ import annotations

import re

import pytest

from ._nb import (INTERNAL_WORDS, MAX_CODE_LINE, RAW_OUTPUT, ROOT, code_cells, load, shown, source, tags,
                  toc_notebooks, toc_sources)

from book_cells import INSTALL_CELL, INSTALL_TAGS  # noqa: E402  (tools/, put on sys.path by ._nb)

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
def test_notebook_opens_like_every_chapter(path):
    """Title, what the reader will learn, the papers it follows; then the hidden install
    cell (the only place that may pip-install) and the setup cell."""
    nb = load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).lstrip().startswith("# "), "open with a title"
    cells = code_cells(nb)
    assert source(cells[0]).rstrip("\n") == INSTALL_CELL.rstrip("\n") and tags(cells[0]) == INSTALL_TAGS, \
        "the first code cell is tools/book_cells.py's install cell (run `python tools/book_cells.py`)"
    setup = cells[1]
    assert "savlib.setup(" in source(setup) and "nbval-ignore-output" in tags(setup), \
        "the second code cell calls savlib.setup(), its output ignored by nbval (cell tag)"
    text = "\n".join(source(c) for c in nb["cells"][1:])
    assert not re.search(r"\bpip\b", "\n".join(source(c) for c in cells[1:])), "no pip install in the book"
    assert not re.search(r"#\s*NBVAL_", text), "nbval markers are cell tags, not comments"
    if path.name != "scorecard.ipynb":
        intro = source(first) + source(nb["cells"][1])
        assert "What you will learn" in intro and "{cite" in intro, \
            "a chapter opens with what the reader will learn and the papers it follows"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_ends_like_every_chapter(path):
    """Claims table, summary, exercises with collapsed solutions; asserts for the claims."""
    nb = load(path)
    cells = code_cells(nb)
    assert any(re.search(r"^\s*assert\b", source(c), flags=re.M) for c in cells), "claims need asserts"
    if path.name == "scorecard.ipynb":
        return
    text = "\n".join(source(c) for c in nb["cells"])
    assert "What the paper claims" in text, "end with 'What the paper claims / what we measured'"
    assert any("claims_table(" in source(c) for c in cells), "the closing table is savlib.book.claims_table"
    heads = [l.strip() for c in nb["cells"] if c["cell_type"] == "markdown" for l in source(c).splitlines()
             if l.startswith("## ")]
    assert "## Summary" in heads and "## Exercises" in heads, "end with a summary and exercises"
    ex = text[text.index("## Exercises"):]
    assert ex.count(":class: dropdown") >= 2, "two or three exercises, each solution in a collapsed dropdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_reads_well_at_1280px(path):
    """Short code lines; every figure numbered and captioned, one per cell; no internal
    words in the text or the outputs; no raw NumPy reprs or warnings with local paths."""
    nb = load(path)
    long = [(i, l) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and shown(c)
            for l in source(c).splitlines() if len(l) > MAX_CODE_LINE]
    assert long == [], f"code lines over {MAX_CODE_LINE} characters: {long[:5]}"
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "markdown":
            m = INTERNAL_WORDS.search(source(c))
            assert not m, f"cell {i}: project-internal words in reader text: {m.group(0)!r}"
            continue
        if c["cell_type"] != "code" or "remove-cell" in tags(c):
            continue
        outs = c.get("outputs", [])
        figs = [o for o in outs if "image/png" in o.get("data", {})
                or "anim-slider" in "".join(o.get("data", {}).get("text/html", ""))]
        assert len(figs) <= 1, f"cell {i}: one figure per cell ({len(figs)} here)"
        if figs:
            fig = c["metadata"].get("mystnb", {}).get("figure", {})
            assert fig.get("caption") and str(fig.get("name", "")).startswith("fig-"), \
                f"cell {i}: a figure needs metadata mystnb.figure.caption and a name 'fig-...'"
        if "remove-output" in tags(c):
            continue
        for o in outs:
            txt = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) \
                + "".join(o.get("data", {}).get("text/html", ""))
            for rx in (INTERNAL_WORDS, RAW_OUTPUT):
                m = rx.search(txt)
                assert not m, f"cell {i}: output shows {m.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_explorer_has_a_no_kernel_version(path):
    nb = load(path)
    code = "\n".join(source(c) for c in code_cells(nb))
    if re.search(r"\binteract(ive)?\(|ipywidgets", code):
        assert "sweep(" in code, "a widget explorer is followed by savlib.book.sweep (no-kernel version)"
