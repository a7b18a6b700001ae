# Flowdesk: `make run` starts it, `make test` proves it. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite waits on databases, Redis, workers and Chromium about half its time, so it runs
# in more processes than cores (pytest-xdist): 3:38 against 7:39 in one on 2 cores (Nov);
# with 3,495 tests (6 Dec), 10:02 in 3 processes and 10:16 in 4.
TEST_PROCESSES ?= 3

.PHONY: run test lint check bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/flowdesk up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest --numprocesses=$(TEST_PROCESSES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: $(STAMP)
	$(BIN)/flowdesk check workflows/

bench: $(STAMP)
	$(BIN)/python bench/core.py

# Not part of `make test`: 20 rounds of kills and crashes under load, about 15 minutes (docs/chaos.md).
chaos: $(STAMP)
	$(BIN)/python bench/chaos.py --rounds 20

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
