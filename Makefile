# One gate: `make test` is what CI runs and what the README quotes.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# The demo needs the product and the API fakes (its Google Sheets mode); the tests need the dev tools too.
DEMO_STAMP := $(VENV)/.demo-installed
DEV_STAMP  := $(VENV)/.dev-installed

.PHONY: demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(DEMO_STAMP): $(BIN)/python pyproject.toml fakes/pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . -e ./fakes
	touch $(DEMO_STAMP)

$(DEV_STAMP): $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./fakes
	touch $(DEV_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/sheetsync demo

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check sheetsync fakes tests benchmarks
	$(BIN)/ruff check sheetsync fakes tests benchmarks
	$(BIN)/hadolint --no-color Dockerfile

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	@# Coverage is measured on the pure core only (pyproject.toml), by the core's own tests: it is
	@# cheap to cover fully there; the edges are not gated (that invites hollow tests). The rest runs
	@# untraced: tracing the core under the campaigns and demos doubled their time.
	$(BIN)/pytest -n auto tests/core --cov --cov-report=term
	$(BIN)/coverage report --fail-under=100 --skip-covered
	$(BIN)/pytest -n auto --ignore=tests/core

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
