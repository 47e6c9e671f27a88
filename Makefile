# Two entry points, each works on a fresh machine by itself:
#   make demo   create .venv if missing, install radgrok, run the CPU demo
#   make test   create .venv if missing, install radgrok, lint (ruff, mypy), run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/radgrok demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy src/radgrok
	MPLCONFIGDIR=$$(mktemp -d) $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_penalty.py

clean:
	rm -rf $(VENV) demo-out runs
