# ironstore — developer commands. `make test` is the one CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test install demo lint docs stress bench bench-workspace clean

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

## ruff and mypy --strict (pinned in the `dev` extra); CI runs it. tests/test_protocols.py is
## type-checked too: it fails to check if Database stops satisfying a store Protocol.
$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: $(VENV)/.dev-installed
	$(BIN)/python -m ruff check ironstore tests docs bench
	$(BIN)/python -m mypy ironstore tests/test_protocols.py

## Reliability and security checks at full size (issue #10; figures in RELIABILITY.md).
STRESS_SIZES := IRONSTORE_CRASH_KILLS=25 IRONSTORE_LOAD_OPS=1000 IRONSTORE_FUZZ_EXAMPLES=100 \
  IRONSTORE_MIGRATION_ROWS=20000 IRONSTORE_AT_REST_ROWS=20000
STRESS_TESTS := tests/test_crash.py tests/test_load.py tests/test_bad_input.py tests/test_migration_roundtrip.py \
  tests/test_migrations.py tests/test_at_rest.py tests/test_sql_safety.py tests/test_logging.py tests/test_connect.py
stress: install
	rm -f .stress-report.jsonl
	$(STRESS_SIZES) IRONSTORE_STRESS_REPORT=.stress-report.jsonl $(BIN)/python -m pytest -q $(STRESS_TESTS) $(PYTEST_ARGS)
	$(BIN)/python tests/stress_report.py .stress-report.jsonl

## Rewrite docs/api.md from the docstrings (a test fails when it is stale).
docs: install
	$(BIN)/python docs/build_api.py

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
