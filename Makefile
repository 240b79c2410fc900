# Quick start: `make demo` (the whole job offline) and `make test` (lint, types, tests).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench mutate golden clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/portsync demo

lint: $(STAMP)
	$(BIN)/ruff check portsync providers tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Mutation testing of the diff, the plan, peer resolution, exposure and the apply guards
# (docs/development.md). Not part of `make test`: it takes minutes.
mutate: $(STAMP)
	$(BIN)/python -m tests.mutation.mutate $(MODULES)

# Rewrite the Markdown reports' golden files after a deliberate change; review `git diff` after.
# Tests never write them (docs/development.md).
golden: $(STAMP)
	$(BIN)/python -m tests.reports.update_golden

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache mutants
