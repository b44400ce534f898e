# The two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= all
# Test processes (pytest-xdist): the suite is CPU-bound, mostly numba compiles on a cold cache.
JOBS ?= 2

.PHONY: demo test install bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# Re-install when the project metadata or the pins change.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sparsefit demo

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) --dist worksteal --hypothesis-profile=ci

bench: $(STAMP)
	$(PY) -m pip install -c constraints.txt -e ".[$(EXTRAS),bench]"
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info
