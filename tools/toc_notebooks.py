"""Print the notebooks listed in _toc.yml, one per line, relative to the repo (for `make test`)."""
from toc import ROOT, toc_notebooks

print("\n".join(str(p.relative_to(ROOT)) for p in toc_notebooks()))
