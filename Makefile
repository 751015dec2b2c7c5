# AuaSu: `make run` starts the demo hub, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Python >= 3.12: on PATH, or one of pyenv's installed versions.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
DATA_DIR ?= .auasu-demo
PYTEST_ARGS ?=

.PHONY: run test bench lint services venv clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: error: Python >= 3.12 not found (install python3.12)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

run: venv
	$(BIN)/auasu demo --data-dir $(DATA_DIR)

services:
	bash scripts/services.sh

# Two phases: the suite in parallel, then the tests that restart shared services, alone.
test: venv services
	$(BIN)/python -m pytest -n 2 -m "not serial" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS)

bench: venv services
	$(BIN)/python bench/codec_hj212.py
	$(BIN)/python bench/ingest_hj212.py --backend sqlite
	$(BIN)/python bench/ingest_hj212.py --backend postgresql
	$(BIN)/python bench/sta_query.py --backend sqlite --reuse
	$(BIN)/python bench/sta_query.py --backend postgresql --reuse
	$(BIN)/python bench/oapi.py --backend sqlite
	$(BIN)/python bench/oapi.py --backend postgresql

lint: venv
	$(BIN)/ruff check hub adapters tests bench
	$(BIN)/mypy hub adapters
	$(BIN)/python -m hub.ogcapi.openapi --check

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
