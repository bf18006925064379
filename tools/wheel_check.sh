#!/usr/bin/env bash
# Build savlib's wheel, check it holds the package and nothing else of the repository,
# install it into a fresh virtual environment with the lock's versions of its dependencies,
# and run tools/wheel_smoke.py there (outside the repository). CI runs this after make test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=$(mktemp -d)
had_build=$([ -d build ] && echo 1 || true)
.venv/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$OUT/dist" .
[ -n "$had_build" ] || rm -rf build          # setuptools' scratch directory in the tree
whl=$(ls "$OUT"/dist/savlib-*.whl)
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
