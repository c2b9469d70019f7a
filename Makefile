# ironstore — developer commands. `make test` is the one CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test install demo lint bench bench-workspace clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Run the whole suite on libSQL and PostgreSQL (embedded pgserver unless IRONSTORE_TEST_POSTGRES_URL).
test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## Migrate an embedded libSQL file and show what is in it (no server needed).
demo: install
	$(BIN)/python -m ironstore.demo

lint: install
	$(BIN)/python -m pip install -q ruff mypy
	$(BIN)/python -m ruff check ironstore tests
	$(BIN)/python -m mypy ironstore

## Benchmarks of issue #9 (raw drivers, peers, concurrency) -> BENCHMARKS.md. BENCH_ARGS=--quick for a smoke run.
BENCH_ARGS ?=
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

## Workspace ingest + hybrid search at 10k / 100k chunks (issue #5) -> "Workspace search" in BENCHMARKS.md.
bench-workspace: $(VENV)/.bench-installed
	$(BIN)/python -m bench.workspace $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
