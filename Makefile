# The course's two commands (see README):  make lab   |   make test
# Both create ./.venv with everything the course needs; re-running them reuses it.
PYTHON ?= python3
VENV ?= .venv
# torch is pinned for reproducible notebooks; override for another build, e.g.
#   make lab TORCH_SPEC="torch>=2.2"
# A changed TORCH_SPEC is noticed on the next make (it is recorded in .venv/.torch-spec).
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
NOTEBOOKS := $(wildcard notebooks solutions)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600

.PHONY: lab test setup setup-test lint format execute grade bench clean FORCE

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Rewritten only when TORCH_SPEC differs from the one installed, so that a new spec
# reinstalls torch instead of being silently ignored once .venv exists.
$(VENV)/.torch-spec: FORCE | $(BIN)/python
	@if [ "$$(cat $@ 2>/dev/null)" != "$(TORCH_SPEC)" ]; then \
		echo "installing $(TORCH_SPEC)"; \
		$(BIN)/python -m pip install "$(TORCH_SPEC)" && echo "$(TORCH_SPEC)" > $@; \
	fi

$(VENV)/.installed: pyproject.toml $(VENV)/.torch-spec | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

## make lab: set up, then open JupyterLab on notebooks/ (exercises/ and solutions/ are one level up)
# ROOT_ARGS lets JupyterLab start as root (containers, CI machines); LAB_ARGS adds your own
# options, e.g. make lab LAB_ARGS="--port 8889 --no-browser".
ROOT_ARGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--ServerApp.allow_root=True)
LAB_ARGS ?=
lab: setup
	@# the course's own notebooks are trusted, so their saved widgets render before any cell runs
	-$(BIN)/jupyter trust notebooks/*.ipynb solutions/*.ipynb > /dev/null 2>&1
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks $(ROOT_ARGS) $(LAB_ARGS)

## make test: set up, lint, then run every test (unit, notebooks via nbval, exercises, nbgrader, browser)
test: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VAE_COURSE_DEVICE=cpu $(BIN)/python -m pytest $(NBVAL) tests $(NOTEBOOKS) $(PYTEST_ARGS)

lint: setup-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make execute NB=notebooks/04_vae.ipynb: re-execute a notebook exactly as CI checks it
execute: setup-test
	$(BIN)/vae-course execute $(NB)
	VAE_COURSE_DEVICE=cpu $(BIN)/python -m pytest $(NBVAL) $(NB)

## make grade ARGS="submissions/ --csv grades.csv": the grader, without activating .venv
grade: setup
	$(BIN)/vae-course grade $(ARGS)

bench: setup
	$(BIN)/python -m vae_course.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
