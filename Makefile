# One entry for everything CI and reviewers care about.
PY ?= .venv/bin

.PHONY: check lint format typecheck imports test bench

check: lint typecheck imports test

lint:
	$(PY)/ruff check .
	$(PY)/ruff format --check .

format:
	$(PY)/ruff check --fix .
	$(PY)/ruff format .

typecheck:
	$(PY)/mypy

imports:
	$(PY)/lint-imports

test:
	$(PY)/pytest -n 2

bench:
	$(PY)/python bench/tracer_overhead.py
	$(PY)/python bench/store_ingest.py
	$(PY)/python bench/collector_ingest.py
	$(PY)/python bench/tui_open.py
