# Every target sets up what it needs: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install lock demo test test-all lint format typecheck browser bench serve clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

LOCK   := requirements.lock
# The resolver's target: the Python and platform of the project's machines and CI.
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-manylinux_2_28

# Every install goes through the lock: uv (pinned in the lock) installs the exact versions
# CI passed with, then churnml itself without re-resolving its dependencies.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(LOCK) uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install churnml with every extra, exactly as locked

lock:  ## re-resolve requirements.lock from pyproject.toml's ranges (needs the package index)
	test -x $(BIN)/uv || ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --extra tune \
		$(LOCK_TARGET) --upgrade --quiet -o $(LOCK)

demo: $(STAMP)  ## the main job: simulate -> train -> register -> score, on the embedded MLflow store
	$(BIN)/churnml demo

# tests/test_report.py opens the report in the system Chromium (playwright never
# downloads a browser); a fresh CI machine gets it from apt.
browser:  ## install Chromium when it is missing (apt-get; sudo unless root)
	command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium; else sudo apt-get install -y -q chromium; fi; }

# Two pytest workers (the machines have two cores), one test file per worker at a time
# so that a file's module fixtures (a trained model, a server) are built once.
test: $(STAMP) lint typecheck browser  ## lint, type-check and run the default test suite (slow tests excluded)
	$(BIN)/python -m pytest -m "not slow" -q -n 2 --dist loadfile --durations=15

test-all: $(STAMP) browser  ## every test, the slow ones included
	$(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check src tests service training benchmarks
	$(BIN)/ruff format --check src tests service training benchmarks

format: $(STAMP)  ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix src tests service training benchmarks
	$(BIN)/ruff format src tests service training benchmarks

typecheck: $(STAMP)  ## mypy on src/
	$(BIN)/mypy

bench: $(STAMP)  ## run every benchmark (minutes; prints figures for docs/benchmarks.md)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

serve: $(STAMP)  ## start the HTTP service on 127.0.0.1:3000
	$(BIN)/churnml serve

clean:  ## remove the virtual environment and local MLflow store
	rm -rf $(VENV) mlflow.db mlruns .churnml .pytest_cache .mypy_cache .ruff_cache
