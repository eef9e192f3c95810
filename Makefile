# fieldapp: `make demo` runs the demo, `make test` runs the tests. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck check venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fieldapp needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: venv
	$(BIN)/fieldapp demo

PYTEST_ARGS ?= -n auto
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check fieldapp tests migrations bench scripts
	$(BIN)/ruff format --check fieldapp tests migrations bench scripts

typecheck: venv
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-ingest
bench-ingest: venv  # submissions/s and latency, fieldapp (SQLite, PostgreSQL) vs a ceiling
	$(BIN)/python bench/ingest/run.py $(BENCH_ARGS)
	$(BIN)/python bench/ingest/stages.py

.PHONY: bench-ingest-stages
bench-ingest-stages: venv  # CPU per submission by stage and by package (cProfile, in process)
	$(BIN)/python bench/ingest/stages.py $(BENCH_ARGS)

.PHONY: bench-caselist
bench-caselist: venv  # a worker's case-list CSV from 100 000 cases, and the 304 path (SQLite, PostgreSQL)
	$(BIN)/python bench/caselist/run.py $(BENCH_ARGS)

.PHONY: bench-review
bench-review: venv  # the review queue and submission page at 10 000 and 1 000 000 submissions (PostgreSQL)
	$(BIN)/python bench/review/run.py $(BENCH_ARGS)

.PHONY: bench-export
bench-export: venv  # CSV zip and XLSX of 10 000 and 100 000 submissions with a repeat (PostgreSQL)
	$(BIN)/python bench/export/run.py $(BENCH_ARGS)

.PHONY: bench-care
bench-care: venv  # the Monday screens on the simulated year and at 10x (SQLite, PostgreSQL)
	$(BIN)/python bench/care/run.py $(BENCH_ARGS)
