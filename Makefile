# `make demo` and `make test` work on a fresh machine: they create .venv and install the pinned stack first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/signalscore demo --workspace signalscore-workspace

test: $(STAMP)
	$(BIN)/ruff check .
	@# the report's browser tests need Chromium; installed when missing and allowed, never failing the build
	@command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -q chromium >/dev/null))) || \
		echo "chromium not installed: browser tests will be skipped"
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) signalscore-workspace .pytest_cache
