"""The gradient-flow chapter's asserts can fail: feed it a wrong GD factor and watch it fail.

We run the chapter with nbclient after a first cell that replaces
``savlib.gradflow.gd_factor`` by a version that is off by one part in a million. The
chapter imports the factor from savlib, so its assert on the measured ratios must
raise. A control run with the unmodified library passes through the same machinery.
"""
from __future__ import annotations

import copy

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ._nb import ROOT

CHAPTER = ROOT / "book" / "schemes" / "gradient_flow.ipynb"
WRONG = """
import savlib.gradflow as _g
_right = _g.gd_factor
_g.gd_factor = lambda lr, k: _right(lr, k) * (1 + 1e-6)
"""


def _run(prefix: str | None):
    nb = nbformat.read(CHAPTER, as_version=4)
    nb = copy.deepcopy(nb)
    if prefix is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(prefix))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()
    return nb


def test_chapter_passes_with_the_library_factor():
    _run(None)


def test_chapter_fails_with_a_wrong_gd_factor():
    with pytest.raises(CellExecutionError) as err:
        _run(WRONG)
    assert "AssertionError" in str(err.value)
    assert "worst" in str(err.value)   # it is the factor check that fails, not something else
