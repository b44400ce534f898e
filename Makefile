# The two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= all
# Test processes (pytest-xdist): the suite is CPU-bound, mostly numba compiles on a cold cache.
JOBS ?= 2
# One BLAS / OpenMP thread per test process: JOBS processes already use the cores, and
# OpenBLAS threads competing for them make linear solves many times slower (measured: 60
# elastic-net fits took 30 s with 2 OpenBLAS threads on a loaded machine, 0.9 s with 1).
TEST_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

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
	$(TEST_ENV) $(PY) -m pytest -q -n $(JOBS) --dist worksteal --hypothesis-profile=ci

bench: $(STAMP)
	$(PY) -m pip install -c constraints.txt -e ".[$(EXTRAS),bench]"
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info
