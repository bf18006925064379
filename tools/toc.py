"""Read _toc.yml: the one list of the book's pages (used by make, the tests and CI)."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _walk(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                out.append(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                _walk(child, out)
    elif isinstance(node, list):
        for child in node:
            _walk(child, out)


def toc_entries(root: Path = ROOT) -> list[str]:
    """Every page of _toc.yml in reading order, as written there (no suffix)."""
    out: list[str] = []
    _walk(yaml.safe_load((root / "_toc.yml").read_text()), out)
    return out


def toc_sources(root: Path = ROOT) -> list[Path]:
    """The source file of every _toc.yml entry (.ipynb or .md); raises if one is missing."""
    paths = []
    for entry in toc_entries(root):
        stem = entry[:-6] if entry.endswith(".ipynb") else entry[:-3] if entry.endswith(".md") else entry
        found = [root / (stem + ext) for ext in (".ipynb", ".md") if (root / (stem + ext)).exists()]
        if len(found) != 1:
            raise FileNotFoundError(f"_toc.yml entry {entry!r}: expected exactly one of {stem}.ipynb / {stem}.md")
        paths.append(found[0])
    return paths


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    return [p for p in toc_sources(root) if p.suffix == ".ipynb"]
