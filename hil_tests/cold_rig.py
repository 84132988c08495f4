"""Shared steps of the cold-region scenarios: a station with heated zones and a Modbus meter on the
plant, the firmware configured to match, and views of what the backend stored.

The firmware gets only what an installer knows (docs/interfaces.md §1.1): thermistor coefficients,
zone limits, heater nameplate power, what each zone guards, the meter model and address. The plant
holds the physics (`plant_cold.ColdPlant` on the reference stations of `thermal_plant`).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.climate import Climate
from hil_tests.conftest import MakeDut
from hil_tests.dut import Dut
from hil_tests.plant import StationPlant, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.thermal_plant import NTC_CONFIG, StationParams, ThermalPlant, firmware_config

# OCPP location of each reference zone's Temperature measurand
LOCATIONS = {"electronics": "Body", "connector": "Cable", "display": "Body",
             "power": "Body", "control": "Body"}
# Heap of a device with thermal control and a meter, on the 64-bit unix port
COLD_HEAP = "192k"
VENDOR_CODES = ("FG_COLD", "FG_HEATER", "FG_SENSOR", "FG_OVERTEMP", "FG_METER")


def thermal_station_config(params: StationParams, report_s: int = 5, ambient_channel: int | None = None,
                           **overrides: Any) -> dict[str, Any]:
    """The `thermal` key of station.json for a reference station (firmware_config + wiring keys),
    with the ambient thermistor on `ambient_channel` (`ColdPlant.ambient_channel`) when given."""
    cfg = firmware_config(params, **overrides)
    for i, z in enumerate(cfg["zones"]):
        z["heater"] = i
        z["location"] = LOCATIONS.get(z["name"], "Body")
    cfg["report_s"] = report_s
    if ambient_channel is not None:
        cfg["ambient_sensor"] = len(cfg["sensors"])
        cfg["sensors"].append(dict(NTC_CONFIG, channel=ambient_channel))
    return cfg


def cold_dut(make_dut: MakeDut, backend: BackendProc, plant: ThreadedPlant, params: StationParams,
             cold: ColdPlant | None = None, meter: MeterBus | None = None,
             thermal: dict[str, Any] | None = None, meter_cfg: dict[str, Any] | None = None,
             heap: str = COLD_HEAP, **station_extra: Any) -> tuple[Dut, StationPlant]:
    """A registered, not yet started device whose plant has `cold` zones and/or a `meter`."""
    extra: dict[str, Any] = dict(station_extra)
    if cold is not None:
        extra["thermal"] = thermal or thermal_station_config(params, ambient_channel=cold.ambient_channel)
    if meter is not None:
        extra["meter"] = {"model": meter.emulator.map.name, "address": meter.emulator.address,
                          "baud": 19200, "interval_ms": 500, "timeout_ms": 100, "retries": 2,
                          "dead_after": 3, "max_power_w": 30000, **(meter_cfg or {})}
    dut = make_dut(backend, heap=heap, **extra)
    st = plant.station(dut.id)
    if cold is not None:
        st.attach_cold(cold)
    if meter is not None:
        st.attach_meter(meter)
    return dut, st


def ready_time_s(params: StationParams, t0_c: float, climate: Climate | None, start_s: float,
                 ambient_c: float = -42.0, wind_ms: float = 0.0, hyst_k: float = 2.0,
                 step_s: float = 5.0, limit_s: float = 6 * 3600.0) -> float:
    """Thermal seconds until every charge-guarding zone reaches min + hysteresis at full heat,
    by the plant's own model (the physics the interlock must wait for)."""
    model = ThermalPlant(params, t0_c)
    guard = params.charge_guard_indexes()
    t = 0.0
    while t < limit_s:
        if all(model.temps_c[i] >= params.zones[i].min_c + hyst_k for i in guard):
            return t
        amb, wind = climate.at(start_s + t) if climate is not None else (ambient_c, wind_ms)
        model.step(step_s, [1.0] * len(params.zones), False, amb, wind)
        t += step_s
    raise AssertionError("the zones never warm at full heat")


def alarm(backend: BackendProc, station_id: str, kind: str, open_: bool = True,
          timeout: float = 15) -> dict[str, Any]:
    """The backend's alarm of `kind` for the station (open, or cleared), once it is there."""
    def find() -> dict[str, Any] | None:
        for a in backend.get("alarms", station_id=station_id, kind=kind):
            if a["open"] == open_:
                return a
        return None
    return wait_until(find, timeout, what=f"{'open' if open_ else 'cleared'} alarm {kind}")


def _db(backend: BackendProc) -> Path:
    url = backend.db_url
    prefix = "sqlite+aiosqlite:///"
    assert url.startswith(prefix), "these checks read the SQLite store"
    return Path(url[len(prefix):])


def query(backend: BackendProc, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the backend's SQLite store."""
    with closing(sqlite3.connect(f"file:{_db(backend)}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql, args).fetchall()


StatusRow = tuple[int, str, str, str | None, str | None]


def status_history(backend: BackendProc, station_id: str) -> list[StatusRow]:
    """(connector, status, errorCode, info, vendorErrorCode) of every StatusNotification stored."""
    return [tuple(r) for r in query(  # type: ignore[misc]
        backend, "SELECT connector_id, status, error_code, info, vendor_error_code FROM status_history "
        "WHERE station_id = ? ORDER BY id", station_id)]


def vendor_codes(backend: BackendProc, station_id: str) -> list[str]:
    """The vendor error codes the station reported, in order (repeats collapsed)."""
    out: list[str] = []
    for _, _, _, _, code in status_history(backend, station_id):
        if code and (not out or out[-1] != code):
            out.append(code)
    return out


def temperatures(backend: BackendProc, station_id: str) -> list[tuple[str, float]]:
    """(location, °C) of every Temperature reading stored for the station."""
    return [(loc, float(v)) for loc, v in query(
        backend, "SELECT location, value FROM meter_values WHERE station_id = ? "
        "AND measurand = 'Temperature' ORDER BY timestamp", station_id)]
