"""Thermal faults on a running station: a broken thermistor, a dead heater, a heater stuck on that
drives a zone over its cut-off. Each ends in fail-safe on the plant and its vendor code
(docs/interfaces.md §1.6) stored in the backend."""

from __future__ import annotations

from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.cold_rig import alarm, cold_dut, status_history, vendor_codes
from hil_tests.conftest import MakeDut
from hil_tests.dut import Dut
from hil_tests.plant import Ev, StationPlant, ThreadedPlant
from hil_tests.plant_cold import ColdPlant
from hil_tests.scenario import CARD, settle, wait_online
from hil_tests.thermal_plant import AC7

SCALE = 240.0  # thermal seconds per wall second


def _connector(backend: BackendProc, station_id: str) -> dict[str, Any]:
    return backend.station(station_id)["connectors"][-1]


def _reported(backend: BackendProc, station_id: str, code: str | None, timeout: float = 30) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        c = _connector(backend, station_id)
        return c if c["vendor_error_code"] == code else None
    return wait_until(seen, timeout, what=f"connector reports {code}")


def _boot(make_dut: MakeDut, backend: BackendProc, plant: ThreadedPlant,
          cold: ColdPlant) -> tuple[Dut, StationPlant]:
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold)
    dut.start()
    wait_online(dut, backend)
    return dut, st


def test_open_thermistor_faults_the_connector_and_heats_fail_safe_until_repaired(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=0.0, ambient_c=-25.0, time_scale=SCALE)
    dut, st = _boot(make_dut, backend, plant, cold)
    _reported(backend, dut.id, None)
    wait_until(lambda: _connector(backend, dut.id)["status"] == "Available", 20, what="Available")

    cold.sensor_fault("electronics", "open")
    c = _reported(backend, dut.id, "FG_SENSOR")
    assert (c["status"], c["error_code"]) == ("Faulted", "OtherError")
    assert c["info"] == "SensorOpen zone=electronics"
    wait_until(lambda: 0 < cold.duty_pm[0] < 1000, 10, what="fail-safe duty on the electronics heater")
    # never "assume warm": a driver cannot start a session on a zone the firmware cannot read
    mark = dut.mark()
    st.plug_in(Ev(max_power_w=7000.0))
    st.present_tag(CARD)
    settle(4)
    assert not st.contactor and not dut.grep(r"TX_START", since=mark)
    assert cold.temp_c("electronics") > AC7.zones[0].min_c, "fail-safe heat keeps the zone above its minimum"

    assert dut.grep(r"TAG_IGNORED", since=mark), "the card is refused while the connector is faulted"
    assert alarm(backend, dut.id, "sensor_fault")["severity"] == "major"

    # repaired: the reading is trusted again after its recovery time; the driver taps again
    cold.sensor_fault("electronics", None)
    _reported(backend, dut.id, None)
    alarm(backend, dut.id, "sensor_fault", open_=False)
    st.present_tag(CARD)
    dut.wait_for(r"TX_START", 30, since=mark)
    codes = [h for h in status_history(backend, dut.id) if h[4] == "FG_SENSOR"]
    assert codes and all(h[1] == "Faulted" for h in codes)
    assert st.violations == []


def test_dead_heater_in_the_cold_is_a_heater_fault(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=-32.0, ambient_c=-32.0, time_scale=SCALE)
    cold.heater_dead[0] = True  # the electronics heater draws current and gives no heat
    dut, _ = _boot(make_dut, backend, plant, cold)
    c = _reported(backend, dut.id, "FG_HEATER", timeout=60)
    assert (c["status"], c["error_code"]) == ("Faulted", "OtherError")
    assert c["info"] == "HeaterFault zone=electronics"
    # the cold start was reported first, then the fault that explains why it never ends
    assert vendor_codes(backend, dut.id)[:2] == ["FG_COLD", "FG_HEATER"], status_history(backend, dut.id)
    assert cold.temp_c("electronics") < AC7.zones[0].min_c
    assert cold.temp_c("connector") > AC7.zones[1].min_c, "the other zones are heated as usual"
    alarm(backend, dut.id, "heater_fault")


def test_heater_stuck_on_drives_over_temperature_and_charging_is_cut_off(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    # a warm day; the electronics heater's switch welds shut during a session
    cold = ColdPlant(AC7, temp_c=[48.0, 25.0, 25.0], ambient_c=25.0, time_scale=SCALE)
    dut, st = _boot(make_dut, backend, plant, cold)
    _reported(backend, dut.id, None)
    st.plug_in(Ev(max_power_w=7000.0))
    st.present_tag(CARD)
    wait_until(lambda: st.contactor, 20, what="charging")

    cold.heater_stuck_on[0] = True
    c = _reported(backend, dut.id, "FG_OVERTEMP", timeout=90)
    assert c["status"] == "Faulted" and c["error_code"] == "HighTemperature"
    assert c["info"].startswith("OverTemp zone=electronics t="), c["info"]
    assert float(c["info"].split("t=")[1]) >= AC7.zones[0].cutoff_c
    wait_until(lambda: not st.contactor, 5, what="contactor open on over-temperature")
    assert cold.duty_pm[0] == 0, "the firmware commands the heater off"
    assert alarm(backend, dut.id, "over_temperature")["severity"] == "critical"
    assert st.violations == []
