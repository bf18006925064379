"""The API reference's build extension (book/_ext/savlib_api.py), without building the book:
every chapter a savlib docstring names exists, and the summary tables' first sentences do
not stop at an abbreviation or inside a literal."""
from __future__ import annotations

import importlib.util
import re

import pytest

from ._nb import ROOT

_spec = importlib.util.spec_from_file_location("savlib_api", ROOT / "book" / "_ext" / "savlib_api.py")
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)

SOURCES = sorted((ROOT / "savlib").rglob("*.py"))


def test_every_chapter_a_docstring_names_is_a_chapter_of_the_book():
    titles = api._titles(ROOT)
    unknown = []
    for path in SOURCES:
        text = re.sub(r"\n\s*#:?", " ", path.read_text())     # doc comments run on
        for m in api._CHAPTER.finditer(text):
            for name in re.findall(r'"([^"]+)"', m.group("names")):
                if " ".join(name.split()) not in titles:
                    unknown.append((path.relative_to(ROOT).as_posix(), name))
    assert unknown == [], f"docstrings name chapters the book does not have: {unknown}"
    assert titles["Training at scale"] == ["book/scale/training_at_scale"]


def test_every_notebook_path_a_docstring_names_exists():
    paths = {m.group("path") for p in SOURCES for m in api._PATH.finditer(p.read_text())}
    missing = [p for p in paths if not any((ROOT / (p + ext)).exists() for ext in (".ipynb", ".md"))]
    assert missing == []


@pytest.mark.parametrize("doc,first", [
    ("The eq. (9) velocity. More text.", "The eq. (9) velocity."),
    ("``f(x) = a . b`` is it. Then more.", "``f(x) = a . b`` is it."),
    ("Ma, Mao & Shen 2024, eqs. 10-12, Algorithm 1. Next.", "Ma, Mao & Shen 2024, eqs. 10-12, Algorithm 1."),
    ("One line without a period", "One line without a period"),
    ("First. Second.", "First."),
])
def test_first_sentence(doc, first):
    assert api._first_sentence(doc) == first
