# One entry point for people and CI. Every target installs what it needs, once (stamp files).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := $(wildcard requirements/*.txt)
LINT_PATHS := components stacks policies mlplat runtime bench

.PHONY: setup system-deps demo test lint fmt bench clean

setup: $(STAMP) system-deps
	@PYTHON=$(PYTHON) scripts/checkov-venv.sh

$(STAMP): pyproject.toml $(REQS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

system-deps:
	@scripts/ensure-system-deps.sh redis-server:redis-server prometheus:prometheus promtool:prometheus amtool:prometheus-alertmanager

demo: setup
	$(BIN)/mlplat plan --all
	$(BIN)/mlplat verify --graph build/graphs/*.graph.json
	$(BIN)/mlplat dev demo

lint: setup
	$(BIN)/ruff check $(LINT_PATHS) tests
	$(BIN)/ruff format --check $(LINT_PATHS) tests
	$(BIN)/mypy $(LINT_PATHS)

fmt: setup
	$(BIN)/ruff format $(LINT_PATHS) tests
	$(BIN)/ruff check --fix $(LINT_PATHS) tests

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
