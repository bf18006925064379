#!/usr/bin/env bash
# Build savlib's sdist and wheel. The sdist must hold every file of the package, pyproject.toml,
# README.md and LICENSE and nothing of the book, the tests, the results or a build (_build, .venv),
# and the wheel built from the sdist must equal the one built from the tree. Then check the
# wheel holds the package and nothing else of the repository, install it into a fresh
# virtual environment with the lock's versions of its dependencies, and run
# tools/wheel_smoke.py there (outside the repository). CI runs this after make test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=$(mktemp -d)
had_build=$([ -d build ] && echo 1 || true)
had_egg=$([ -d savlib.egg-info ] && echo 1 || true)
.venv/bin/python -c "import sys; from setuptools import build_meta as b; b.build_sdist(sys.argv[1])" \
  "$OUT/sdist" > "$OUT/sdist.log" 2>&1 || { cat "$OUT/sdist.log"; echo "wheel_check: the sdist did not build"; exit 1; }
.venv/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$OUT/dist" .
[ -n "$had_build" ] || rm -rf build          # setuptools' scratch directories in the tree
[ -n "$had_egg" ] || rm -rf savlib.egg-info
whl=$(ls "$OUT"/dist/savlib-*.whl)
sdist=$(ls "$OUT"/sdist/savlib-*.tar.gz)
.venv/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$OUT/from_sdist" "$sdist"
git ls-files savlib | grep '\.py$' > "$OUT/package_files"
.venv/bin/python - "$sdist" "$whl" "$(ls "$OUT"/from_sdist/savlib-*.whl)" "$OUT/package_files" <<'PYEOF'
import sys, tarfile, zipfile
sdist, whl, whl2, listing = sys.argv[1:]
names = [n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n]
need = {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} | set(open(listing).read().split())
lacking = sorted(need - set(names))
assert not lacking, f"the sdist lacks files the package needs: {lacking[:10]} (see MANIFEST.in)"
bad = [n for n in names if n.split("/")[0] in ("_build", ".venv", "book", "tests", "benchmarks", "tools",
                                                "build", "dist", ".git", "runs")
       or n.endswith((".ipynb", ".pyc", ".json", ".png"))]
assert not bad, f"the sdist carries files that are not the package's source: {bad[:10]} (see MANIFEST.in)"
a, b = (sorted(zipfile.ZipFile(w).namelist()) for w in (whl, whl2))
assert a == b, f"the wheel built from the sdist differs from the tree's: {sorted(set(a) ^ set(b))[:10]}"
print(f"sdist {sdist.rsplit('/', 1)[-1]}: {len(names)} files; the wheel built from it equals the tree's")
PYEOF
.venv/bin/python - "$whl" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert any(n.startswith("savlib/schemes/") for n in names), "no savlib.schemes in the wheel"
bad = [n for n in names if n.startswith(("_build", "book/", "tests/", "benchmarks/"))]
assert not bad, f"the wheel carries files that are not the package: {bad[:5]}"
print(f"wheel {sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files")
PYEOF
$PY -m venv "$OUT/venv"
deps=$(grep -E '^(torch|numpy|scipy|tqdm|matplotlib|contourpy|cycler|fonttools|kiwisolver|packaging|pillow|pyparsing|python-dateutil|six|filelock|fsspec|Jinja2|MarkupSafe|mpmath|networkx|sympy|typing_extensions|setuptools)==' requirements/lock.txt || true)
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check $deps "$whl"
(cd "$OUT" && "$OUT/venv/bin/python" "$OLDPWD/tools/wheel_smoke.py")
rm -rf "$OUT"
