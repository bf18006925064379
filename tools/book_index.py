"""After `jupyter-book build`: check every _toc.yml entry became a page, print the index path."""
import sys

from toc import ROOT, toc_entries

html = ROOT / "_build" / "html"
missing = [e for e in toc_entries() if not (html / (e.rsplit(".", 1)[0] if e.endswith((".md", ".ipynb")) else e)).with_suffix(".html").exists()]
if missing:
    sys.exit(f"pages missing from {html}: {missing}")
print(f"\nThe book is at {html / 'index.html'}  ({len(toc_entries())} pages from _toc.yml)")
