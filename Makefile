# One gate: `make test` is what CI runs and what the README quotes.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sheetsync demo

lint: $(STAMP)
	$(BIN)/ruff format --check sheetsync tests benchmarks
	$(BIN)/ruff check sheetsync tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n auto --cov --cov-report=term
	@# The pure core is cheap to cover fully; the edges are not gated (that invites hollow tests).
	$(BIN)/coverage report --include='sheetsync/core/*' --fail-under=100 --skip-covered

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
