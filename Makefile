# Triad — the two commands: `make run` and `make test`. `make bench` for the benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: migrate the embedded database, load the demo company if empty, serve on 127.0.0.1:8000
run: install
	$(BIN)/triad db upgrade
	$(BIN)/triad serve --host 127.0.0.1 --port 8000 --demo

## make test: the whole suite on SQLite, then on PostgreSQL when it answers
test: install-test
	$(BIN)/ruff check src tests benchmarks
	bash scripts/test.sh

## make bench: every scenario in benchmarks/ at full size
bench: install-test
	@set -e; found=0; for f in benchmarks/*.py; do [ -e "$$f" ] || continue; found=1; \
	  echo "== $$f"; $(BIN)/python "$$f"; done; [ $$found = 1 ] || echo "no benchmarks yet"

lint: install-test
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
