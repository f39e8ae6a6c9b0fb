# The two commands of the README:
#   make run    run the forwarder locally, end to end (moto + ServiceNow emulator)
#   make test   install what the tests need, then lint, type-check, template checks, tests
# Each sets itself up: a virtualenv in .venv (Python 3.11, `python3`) with the layer's
# runtime dependencies exactly as locked (layers/itom_forwarder/requirements.txt, hashes
# checked), the dev tools (requirements-dev.txt) and the itom_forwarder package (editable).
# `make unit-tests` also sets up .venv-3.13 the same way with the Lambda runtime's Python
# (3.13) where one exists, and runs the suite on both interpreters at once.
#
# Other targets: lint, typecheck, template (scripts/check-template.sh), unit-tests, venvs,
# serve, bench, lock (regenerate the lock after editing layers/itom_forwarder/requirements.in),
# clean.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The Lambda runtime's Python (python3.13): pyenv's newest 3.13, else python3.13 on PATH.
# Empty where there is none: the 3.13 test run is then skipped with a message.
ifeq ($(origin PYTHON313),undefined)
PYTHON313 := $(shell bash scripts/find-python.sh 3.13)
endif
VENV313 := .venv-3.13
STAMP313 := $(VENV313)/.installed

LOCK_IN := layers/itom_forwarder/requirements.in
LOCK := layers/itom_forwarder/requirements.txt
VENV_INPUTS := $(LOCK) $(LOCK_IN) requirements-dev.txt pyproject.toml

# uv only regenerates the lock (make lock); nothing else needs it.
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv

PORT ?= 3000
PYTEST_ARGS ?=

.PHONY: run serve test lint typecheck template unit-tests venvs bench lock clean

# $(call make-venv,DIR,PYTHON): three pip calls, since pip checks hashes all or nothing:
#   1. the layer's runtime dependencies from the lock, every hash checked (--require-hashes);
#   2. the dev tools (no hashes) and the package itself (editable), with the locked versions
#      as constraints: a dev tool cannot move a runtime dependency off its locked version,
#      and a pin in requirements.in that the lock does not match fails here;
#   3. pip check: every installed distribution's requirements are met.
define make-venv
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ ;\\]*\).*/\1/p' $(LOCK) > $(1)/lock-constraints.txt
	$(1)/bin/python -m pip install --quiet -c $(1)/lock-constraints.txt -r requirements-dev.txt -e .
	$(1)/bin/python -m pip check
	touch $(1)/.installed
endef

$(STAMP): $(VENV_INPUTS)
	$(call make-venv,$(VENV),$(PYTHON))

$(STAMP313): $(VENV_INPUTS)
	@test -n "$(PYTHON313)" || { echo "error: no python3.13 found (pyenv or PATH)" >&2; exit 1; }
	$(call make-venv,$(VENV313),$(PYTHON313))

# Both venvs (the 3.13 one where a python3.13 exists).
venvs: $(STAMP) $(if $(PYTHON313),$(STAMP313))

run: $(STAMP)
	$(BIN)/python -m local.runner $(ARGS) $(EVENTS)

serve: $(STAMP)
	$(BIN)/python -m local.runner --serve $(PORT) $(ARGS)

# lint, typecheck, template, unit-tests, in two phases to use the machine's 2 cores: first
# the venvs, lint, type checks and the template checks side by side (make -j2; each target's
# output is printed whole once it is done), then the test suites on both interpreters at once.
test:
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck template venvs
	@$(MAKE) --no-print-directory unit-tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The redrive function is a second `app` module: checked on its own, with the layer package
# it imports.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy functions/redrive/app.py layers/itom_forwarder/itom_forwarder

template:
	bash scripts/check-template.sh

# pytest on Python 3.11 (.venv) and, where a python3.13 exists, on 3.13 (.venv-3.13), in
# parallel; 3.11's output streams, 3.13's follows, then one line per interpreter.
unit-tests: venvs
	bash scripts/run-tests.sh $(BIN)/python $(if $(PYTHON313),$(VENV313)/bin/python,--skip "Python 3.13 (the Lambda runtime): no python3.13 found (pyenv or PATH)") -- $(PYTEST_ARGS)

# Not part of `make test` (a smoke run of it is): ~7 minutes on 2 cores. Runs on the Lambda
# runtime's Python (3.13, .venv-3.13) where one exists, then on 3.11 (.venv), one after the
# other, each saving its figures in .venv/bench/; docs/performance.md then gets both tables,
# 3.13's first, and the cost per million alerts from 3.13's figures (without a python3.13:
# 3.11's alone, saying so).
bench: $(STAMP) $(if $(PYTHON313),$(STAMP313))
	@mkdir -p $(VENV)/bench
	$(if $(PYTHON313),$(VENV313)/bin/python -m bench --results $(VENV)/bench/3.13.json)
	$(BIN)/python -m bench --results $(VENV)/bench/3.11.json
	$(BIN)/python -m bench --report $(if $(PYTHON313),$(VENV)/bench/3.13.json) $(VENV)/bench/3.11.json

$(UV):
	$(PYTHON) -m venv --clear .tools/uv
	.tools/uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The lock of the layer's runtime dependencies: every transitive one, with the hashes of
# every file of each locked version, one resolution for every Python >= 3.11 and platform
# (the Lambda runtime, python3.13 on manylinux aarch64, and the local 3.11/3.13 x86_64 and
# aarch64 alike). The command is repeated in the file's header.
lock: $(UV)
	bash scripts/lock.sh $(UV) $(LOCK_IN) $(LOCK)

clean:
	rm -rf $(VENV) $(VENV313) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
