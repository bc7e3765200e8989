# Two user-facing targets (see README "Quick start"):
#   make lab    set up .venv if needed, then open the course in JupyterLab
#   make test   set up .venv if needed, then run the whole test suite (library, doctests, browser, notebooks)
# Contributor targets (see README "Contributing"):
#   make test-fast   library tests and doctests only (no browser, no notebooks, nothing marked slow)
#   make lint        ruff: the checks configured in pyproject.toml
#   make format      ruff: sort imports and apply its safe fixes
# `make setup` (internal) creates .venv and installs once; it reruns when pyproject.toml changes.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Pinned on purpose: an unpinned torch from PyPI on Linux is a ~5 GB CUDA build.
# Other machines: make lab TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: lab test test-fast lint format setup

# Jupyter refuses to start as root (containers, cloud shells) unless told it is on purpose.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) notebooks/00_start_here.ipynb

# Library and browser tests first, then every notebook top to bottom in fast mode. Both parts always
# run; the target fails if either does. No notebooks yet is not a failure.
test: setup
	@status=0; \
	$(PY) -m pytest || status=1; \
	if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  EOSTUTOR_FAST=1 EOSTUTOR_SUITE=1 OMP_NUM_THREADS=1 $(PY) -m pytest --nbval-lax --nbval-current-env notebooks/*.ipynb \
	    || status=1; \
	else \
	  echo "make test: no notebooks in notebooks/ yet, nothing to run with nbval"; \
	fi; \
	exit $$status

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser" -q

lint: setup
	$(PY) -m ruff check .

format: setup
	$(PY) -m ruff check --fix .

setup: $(STAMP)

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[dev]"
	touch $@
