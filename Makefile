# Two commands set everything up on a fresh Debian machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
LATENT := $(VENV)/bin/latent
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Test processes (pytest-xdist): many tests wait on real time (JACK, MIDI, subprocesses), so two
# share two cores well: about 6 min instead of 10 on the 2-core CI machine. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

.PHONY: demo test system-deps models real-notes bench clean

system-deps:
	@bash .ci/system-deps.sh

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dx7]"
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[test,dx7]"
	touch $@

demo: system-deps $(STAMP)
	$(LATENT) demo

test: system-deps $(TEST_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

bench: system-deps $(STAMP)
	$(LATENT) bench all

models: system-deps $(STAMP)
	$(PY) -m training.make_models

real-notes: system-deps $(STAMP)
	$(PY) -m training.make_real_notes

clean:
	rm -rf $(VENV) build *.egg-info demo-out.wav demo-out.png
