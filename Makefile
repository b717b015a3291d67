# The two commands of the README: `make demo` and `make test`. Both set up
# everything on a fresh Debian machine: .venv, the package, and Graphviz.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench graphviz clean

demo: $(STAMP) graphviz
	$(BIN)/graphstep

test: $(STAMP) graphviz lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) graphviz
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/session.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/onnx.py
	$(BIN)/python bench/torch_import.py

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,torch]'
	touch $(STAMP)

# Graphviz's `dot` program: installed with apt when missing, if we are root.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq graphviz || (apt-get update -qq && apt-get install -y -qq graphviz)) >/dev/null; \
	  else \
	    echo "graphstep needs Graphviz's 'dot': sudo apt-get install graphviz (or brew install graphviz)"; exit 1; \
	  fi; }

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
