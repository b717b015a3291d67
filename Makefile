# The two commands of the README: `make demo` and `make test`. Both set up
# everything on a fresh Debian machine: .venv, the package, and Graphviz.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench graphviz chromium clean

demo: $(STAMP) graphviz
	$(BIN)/graphstep

test: $(STAMP) graphviz chromium lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) graphviz
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/session.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/pictures.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/onnx_models.py
	$(BIN)/python bench/doctor.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/torch_import.py

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,torch]'
	touch $(STAMP)

# Graphviz's `dot` program, and librsvg's `rsvg-convert` for PNG: installed with apt when
# missing, if we are root.
graphviz:
	@command -v dot >/dev/null 2>&1 && command -v rsvg-convert >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq graphviz librsvg2-bin || (apt-get update -qq && apt-get install -y -qq graphviz librsvg2-bin)) >/dev/null; \
	  else \
	    echo "graphstep needs Graphviz's 'dot' and librsvg's 'rsvg-convert': sudo apt-get install graphviz librsvg2-bin (or brew install graphviz librsvg)"; exit 1; \
	  fi; }

# Debian's chromium, for the tests that drive the HTML player in a headless browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null \
	      || echo "could not install chromium: the HTML player's browser tests will be skipped"; \
	  else \
	    echo "the HTML player's browser tests need chromium (sudo apt-get install chromium); without it they are skipped"; \
	  fi; }

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
