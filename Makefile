# Two user-facing targets (see README "Quick start"):
#   make lab    set up .venv if needed, then open the course in JupyterLab
#   make test   set up .venv if needed, then run the whole test suite (library, doctests, browser, notebooks)
# Contributor targets (see README "Contributing"):
#   make test-fast   library tests and doctests only (no browser, no notebooks, nothing marked slow)
#   make lint        ruff: the checks configured in pyproject.toml
#   make format      ruff: sort imports and apply its safe fixes
# `make setup` (internal) creates .venv and installs once; it reruns when pyproject.toml or the torch
# choice (TORCH_SPEC, TORCH_INDEX) changes.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# PyTorch is pinned on purpose: every learner gets the same version.
# On Linux the default is the official CPU-only index (a few hundred MB; PyPI's Linux wheel bundles CUDA and
# is several GB). Where that index cannot be reached, make says so and installs from the package index
# instead. TORCH_INDEX= (empty) always uses the package index (macOS: PyPI's wheel is CPU-only already).
# A different TORCH_SPEC or TORCH_INDEX on a later make reinstalls torch.
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),$(TORCH_CPU_INDEX))
TORCH_CHOICE := $(VENV)/.torch-choice
TORCH_INSTALLED := $(VENV)/.torch-installed

# `make lab` opens this page (not the Launcher): the printed URLs and the browser land on notebook 00.
LAB_START := /lab/tree/notebooks/00_start_here.ipynb

.PHONY: lab test test-fast lint format setup

# Jupyter refuses to start as root (containers, cloud shells) unless told it is on purpose.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

# Started the way Binder starts it (binder/start: one thread per library, the server settings that Voilà's
# preview needs), on the repository, opening notebook 00.
lab: setup
	@echo "make lab: JupyterLab opens notebooks/00_start_here.ipynb; without a browser, open the"
	@echo "          http://127.0.0.1:...$(LAB_START)?token=... URL printed below. Stop it with Ctrl-C."
	binder/start $(VENV)/bin/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=$(LAB_START)

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

# Debian/Ubuntu ship Python without venv support (the python3-venv package): say so, and leave no half-made
# .venv behind (it would have a python but no pip).
$(PY):
	@python3 -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: could not create $(VENV) with python3 -m venv. On Debian/Ubuntu: sudo apt-get install python3-venv"; \
	  exit 1; }

# The torch choice as a file whose date changes only when the choice does, so a new choice reinstalls.
# Its prerequisite is a file that never exists, so this check runs on every make.
# A changed choice must reinstall even when both makes run within one tick of the file-system clock (file
# dates cannot tell them apart then): compare the contents when make reads this file, before it looks at any
# date, and drop the stamp if they differ.
ifneq ($(wildcard $(TORCH_INSTALLED)),)
ifneq ($(strip $(shell cat $(TORCH_INSTALLED))),$(strip $(TORCH_SPEC) $(TORCH_INDEX)))
$(shell rm -f $(STAMP))
endif
endif

$(TORCH_CHOICE): $(VENV)/.always-check | $(PY)
	@choice='$(TORCH_SPEC) $(TORCH_INDEX)'; \
	if [ "$$(cat $@ 2>/dev/null)" != "$$choice" ]; then echo "$$choice" > $@; fi

$(VENV)/.always-check:

$(STAMP): pyproject.toml $(TORCH_CHOICE) | $(PY)
	@if [ -f $(TORCH_INSTALLED) ] && ! cmp -s $(TORCH_CHOICE) $(TORCH_INSTALLED); then \
	  echo "make: torch choice changed from '$$(cat $(TORCH_INSTALLED))' to '$$(cat $(TORCH_CHOICE))': reinstalling torch"; \
	  $(PY) -m pip uninstall -y torch; \
	fi
	@if [ -n "$(TORCH_INDEX)" ] && $(PY) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).close()' \
	    "$(TORCH_INDEX)/torch/" 2>/dev/null; then \
	  echo "$(PY) -m pip install --index-url $(TORCH_INDEX) \"$(TORCH_SPEC)\""; \
	  $(PY) -m pip install --index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)"; \
	else \
	  if [ -n "$(TORCH_INDEX)" ]; then \
	    echo "make: $(TORCH_INDEX) cannot be reached: installing $(TORCH_SPEC) from the package index instead"; \
	  fi; \
	  echo "$(PY) -m pip install \"$(TORCH_SPEC)\""; \
	  $(PY) -m pip install "$(TORCH_SPEC)"; \
	fi
	cp $(TORCH_CHOICE) $(TORCH_INSTALLED)
	$(PY) -m pip install -e ".[dev]"
	touch $@
