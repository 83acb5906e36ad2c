# Two entry points for a fresh machine: `make demo` (main job on bundled sample patients) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/smart-app demo

lint: $(STAMP)
	$(BIN)/ruff check smart_app tests benchmarks tools
	$(BIN)/ruff format --check smart_app tests benchmarks tools

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_alert_burden.py
	$(BIN)/python benchmarks/bench_mme.py
	$(BIN)/python benchmarks/bench_cds.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
