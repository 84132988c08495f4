# Frostgrid: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test dashboard lint bench-firmware bench-cold-heap bench-thermal bench-thermal-reboot bench-v2g services clean mpy

$(STAMP): pyproject.toml
	bash scripts/bootstrap.sh
	touch $(STAMP)

# The operator dashboard (served by the backend at /ui/): npm packages and the Vite build, not committed.
DASH_DIR := ocpp_backend/dashboard
DASHBOARD := $(DASH_DIR)/dist/index.html
$(DASHBOARD): $(DASH_DIR)/package.json $(DASH_DIR)/package-lock.json $(DASH_DIR)/index.html \
		$(DASH_DIR)/vite.config.js $(shell find $(DASH_DIR)/src -type f 2>/dev/null) | $(STAMP)
	cd $(DASH_DIR) && npm ci --no-audit --no-fund && npm run build

dashboard: $(DASHBOARD)

# Backend on SQLite + 10 simulated stations running the real firmware in MicroPython.
demo: $(STAMP) $(DASHBOARD)
	$(VENV)/bin/frostgrid demo

# Everything: firmware units inside MicroPython, backend, gateway, end-to-end in hil_tests.
test: $(STAMP) $(DASHBOARD)
	bash scripts/services.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Precompile the firmware with mpy-cross into build/firmware_mpy/.
mpy: $(STAMP)
	$(PY) -m hil_tests.build_mpy

bench-firmware: $(STAMP)
	$(PY) -m bench.bench_firmware

# The heap a cold station (thermal zones + Modbus meter) needs on the unix port (~15 min).
bench-cold-heap: $(STAMP)
	$(PY) -m bench.cold_station_heap

bench-thermal: $(STAMP)
	$(PY) -m bench.bench_thermal

# A power cut every week through the Heihe winter: what the thermal controller's saved learning
# (learned.bin) keeps (~8 min).
bench-thermal-reboot: $(STAMP)
	$(PY) -m bench.thermal_reboot

# V2G allocation quality (pro-rata / Frostgrid / LP) on the reference fleet, allocator speed;
# then profile fan-out and emergency shed to 10,000 lightweight simulated stations.
bench-v2g: $(STAMP)
	$(PY) -m bench.bench_v2g
	$(PY) -m bench.bench_v2g_fanout
	$(PY) -m bench.bench_v2g_t90

clean:
	rm -rf build .pytest_cache frostgrid.db
