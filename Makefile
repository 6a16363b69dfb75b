# Two entry points (see README): `make run` and `make test`. Both create or reuse .venv/ and
# install what a fresh Python 3.11 machine needs. torch comes first, pinned to the CPU build:
# unpinned, pip would pull a multi-GB CUDA build.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: install run test lint clean-index

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Main job: index the bundled corpus (incremental: instant when nothing changed) and run a sample search.
run: install
	$(BIN)/rag index corpus
	$(BIN)/rag search "Which countries could join AUKUS Pillar 2?" -k 3

test: install
	$(BIN)/ruff check rag tests
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check rag tests
