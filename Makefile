# Every target sets up what it needs: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test test-all lint format typecheck bench serve clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e ".[dev,spark]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install churnml with its dev and spark extras

demo: $(STAMP)  ## the main job: simulate -> train -> register -> score, on the embedded MLflow store
	$(BIN)/churnml demo

test: $(STAMP) lint typecheck  ## lint, type-check and run the default test suite (slow tests excluded)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)  ## every test, the slow ones included
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
