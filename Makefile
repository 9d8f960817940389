# Two commands do all set-up on a fresh machine: `make run` (the main experiment) and
# `make test` (the suite). Both create .venv and install xvanish into it on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXPERIMENT ?= barren_plateau

.PHONY: run test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch==2.13.0 is pinned in pyproject: it is the CPU build (a looser pin pulls a multi-GB CUDA build).
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,launchers]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m xvanish experiment=$(EXPERIMENT)

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) experiments/bench_mlp.py
	$(PY) experiments/bench_vqc.py

clean:
	rm -rf $(VENV) outputs multirun build dist *.egg-info
