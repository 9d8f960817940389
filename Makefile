# Two commands do all set-up on a fresh machine: `make run` (the main experiment) and
# `make test` (the suite). Both create .venv and install xvanish into it on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXPERIMENT ?= barren_plateau

.PHONY: run test bench mutate clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# constraints.txt pins the tested set, torch==2.13.0 (the CPU build) among it; pyproject
	# itself declares ranges for people who import xvanish into their own environment.
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,launchers]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m xvanish experiment=$(EXPERIMENT)

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) experiments/bench_mlp.py
	$(PY) experiments/bench_mlp_memory.py
	$(PY) experiments/bench_vqc.py
	$(PY) experiments/bench_rnn.py
	$(PY) experiments/bench_gan.py
	$(PY) experiments/bench_module.py

# Plant known bugs in a copy of the tree and check the suite catches each (minutes; not in CI).
mutate: $(VENV)/.installed
	$(PY) experiments/mutate.py

clean:
	rm -rf $(VENV) outputs multirun build dist *.egg-info
