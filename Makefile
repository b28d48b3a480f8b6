# Quick start: `make demo`, then `make test`. Each target creates or refreshes .venv on its own.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.radtrust-installed

.PHONY: demo test test-fast lint install clean warm-start warm-start-check

install: $(STAMP)

# The venv is rebuilt when pyproject.toml changes. torch is installed first, pinned, so that pip takes the
# local CPU wheel instead of resolving a CUDA build through another package's looser requirement.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test,lint]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/radtrust demo --out demo_out

# Tests run in one process per core (pytest-xdist; at most 4, so a big machine does not load the encoder
# a dozen times): CI's two cores finish in about half the time of one process. Whole files go to one worker
# (--dist loadfile), so a module's trained fixtures are built once, not once per worker.
test: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations 25

# ruff (lint: pyflakes, runtime pycodestyle errors, import order, bugbear; and the formatter), the layer
# contract (import-linter: imports only point down) and mypy; the settings of all four are in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The warm start that ships in the package (radtrust/train/warm_starts): fitted on synthetic reports only, with
# the command in its pretrain.json. warm-start rebuilds it into the package; warm-start-check rebuilds it
# elsewhere and compares the bytes. About half an hour each, on one core.
warm-start: $(STAMP)
	$(PY) benchmarks/warm_start_rebuild.py --write

warm-start-check: $(STAMP)
	$(PY) benchmarks/warm_start_rebuild.py

test-fast: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache
