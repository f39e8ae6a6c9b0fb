# The two commands of the README:
#   make run    run the forwarder locally, end to end (moto + ServiceNow emulator)
#   make test   install what the tests need, then lint, type-check, template checks, tests
# Each sets itself up: a virtualenv in .venv from the pinned requirements.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PORT ?= 3000

.PHONY: run serve test lint typecheck template unit-tests bench clean

$(STAMP): requirements-dev.txt layers/itom_forwarder/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m local.runner $(ARGS) $(EVENTS)

serve: $(STAMP)
	$(BIN)/python -m local.runner --serve $(PORT) $(ARGS)

test: lint typecheck template unit-tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy functions/redrive/app.py  # a second `app` module: checked on its own

template:
	bash scripts/check-template.sh

unit-tests: $(STAMP)
	$(BIN)/python -m pytest

# Not part of `make test` (a smoke run of it is): ~2 minutes, writes docs/performance.md.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
