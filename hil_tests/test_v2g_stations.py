"""V2G at the stations: charging profiles sent through the backend's command path reach real
firmware (OCPP 1.6 Smart Charging with Frostgrid's discharge extension) and the plant measures
what they ask for.

One backend (in this process, so that the test drives its `CommandService` as the fleet
dispatcher does), one plant and three MicroPython stations charging bidirectional EVs: two
stations are discharge-capable (station.json `discharge_capable`), one is not; one capable station
reaches the backend through a link proxy that the test can cut.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hil_tests.backend_proc import sqlite_url, wait_until
from hil_tests.conftest import dut_factory
from hil_tests.dut import Dut
from hil_tests.ev_bidir import BidirEv, efficiency
from hil_tests.loop_thread import LoopThread
from hil_tests.plant import Ev, StationPlant, ThreadedPlant, cold_derate
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import CARD, calls, dut_config, plug_and_authorize, wait_bound
from ocpp_backend.backend import Backend
from ocpp_backend.settings import Settings

EV_MAX_W = 11_000.0
TOL_W = 150.0  # the firmware's setpoint is exact; the plant rounds and the ramp is 10 kW/s
FALLBACK_S = 5  # station.json link_loss_fallback_s
PASSWORD = "v2g-secret"
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Export,Energy.Active.Export.Register,SoC"


class InProcessBackend:
    """A backend on SQLite on its own loop thread, with just what `dut_factory` and the test use."""

    def __init__(self, tmp: Path) -> None:
        self._loop = LoopThread("v2g-backend")
        settings = Settings(db_url=sqlite_url(tmp / "v2g.db"), host="127.0.0.1", ocpp_port=0, http_port=None,
                            command_timeout_s=10.0, heartbeat_s=60, accept_unknown_tags=True)
        self.backend = Backend(settings)
        self._loop.run(self.backend.start(), timeout=60)
        self.port = self.backend.ocpp_port

    @property
    def ocpp_url(self) -> str:
        """Where stations connect (they append their id)."""
        return self.backend.ocpp_url

    def add_station(self, station_id: str, password: str) -> None:
        """Register a station."""
        self._loop.run(self.backend.services.registry.add(station_id, password), timeout=60)

    def connected(self, station_id: str) -> bool:
        """True while the station's WebSocket is open."""
        return bool(self._loop.run(self.backend.services.registry.get(station_id)).connected)

    def command(self, station_id: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """An OCPP 1.6 command through the backend's CommandService; the station's answer."""
        return self._loop.run(self.backend.services.commands.send(station_id, action, payload), timeout=30)

    def stop(self) -> None:
        """Stop the backend and its loop."""
        self._loop.run(self.backend.stop(), timeout=30)
        self._loop.stop()


class Station:
    """One firmware station, its plant and its transaction."""

    def __init__(self, dut: Dut, plant: StationPlant, capable: bool) -> None:
        self.dut, self.plant, self.capable = dut, plant, capable
        self.id = dut.id
        self.txid = 0


class Rig:
    """The backend, the plant, the proxy and the stations of this module's scenarios."""

    def __init__(self, backend: InProcessBackend, plant: ThreadedPlant, proxy: ThreadedProxy,
                 stations: list[Station]) -> None:
        self.backend, self.plant, self.proxy, self.stations = backend, plant, proxy, stations
        self.next_id = 100

    def send_profile(self, st: Station, limit_w: float, purpose: str = "TxProfile", stack: int = 1,
                     duration_s: int | None = None) -> str:
        """An Absolute W profile with one period starting now; the station's status."""
        self.next_id += 1
        start = datetime.now(UTC) - timedelta(seconds=2)
        profile: dict[str, Any] = {
            "charging_profile_id": self.next_id, "stack_level": stack,
            "charging_profile_purpose": purpose, "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "W", "start_schedule": start.isoformat(),
                                  "duration": duration_s,
                                  "charging_schedule_period": [{"start_period": 0, "limit": limit_w}]},
        }
        if purpose == "TxProfile":
            profile["transaction_id"] = st.txid
        if duration_s is None:
            del profile["charging_schedule"]["duration"]
        cid = 0 if purpose == "ChargePointMaxProfile" else 1
        answer = self.backend.command(st.id, "SetChargingProfile",
                                      {"connector_id": cid, "cs_charging_profiles": profile})
        return str(answer["status"])

    def clear_all(self) -> None:
        """Every station back to no profile, charging at the EV's rate."""
        for st in self.stations:
            self.backend.command(st.id, "ClearChargingProfile", {})
        for st in self.stations:
            wait_power(st, EV_MAX_W)


def wait_power(st: Station, target_w: float, timeout: float = 45) -> None:
    """The plant measures `target_w` (within TOL_W) at the station's meter."""
    deadline = time.monotonic() + timeout
    p = st.plant
    while abs(p.power_w - target_w) > TOL_W:
        assert time.monotonic() < deadline, (
            f"{st.id} not at {target_w} W after {timeout} s: plant power {p.power_w} W, limit {p.limit_w} W, "
            f"link {p.link_up}, contactor {p.contactor}, requests {p.requests}, cp {p.cp_state()}")
        time.sleep(0.2)



def start_charging(stations: list[Station]) -> None:
    """Boot every station, plug a bidirectional EV (60 % SoC) into each and wait until it charges
    at full power; each station's `txid` is set."""
    for st in stations:
        st.dut.start()
    for st in stations:
        st.dut.wait_for(r"BOOT_ACCEPTED", 60)
        ev = BidirEv(max_power_w=EV_MAX_W, soc_pct=60.0, max_discharge_w=7_400.0)
        st.txid = wait_bound(st.dut, plug_and_authorize(st.plant, st.dut, CARD, ev))
    for st in stations:
        wait_power(st, EV_MAX_W)

# --- the plant's bidirectional EV alone ------------------------------------------------------------
def _plant_with(ev: Ev, limit_w: float) -> StationPlant:
    st = StationPlant("EV-ONLY").plug_in(ev)
    st.contactor = True
    st.limit_w = limit_w
    return st


def test_a_bidirectional_ev_discharges_at_the_limit_and_loses_more_energy_in_the_cold() -> None:
    warm = _plant_with(BidirEv(soc_pct=50.0, battery_temp_c=20.0), -3_000.0)
    warm.step(3_600.0)
    assert warm.power_w == -3_000.0 and warm.export_wh == 3_000 and warm.energy_wh == 0
    frozen = _plant_with(BidirEv(soc_pct=50.0, battery_temp_c=-25.0), -3_000.0)
    frozen.step(1.0)
    assert frozen.power_w == pytest.approx(-7_400.0 * cold_derate(-25.0))  # a cold battery gives less
    cold = _plant_with(BidirEv(soc_pct=50.0, battery_temp_c=-10.0, max_discharge_w=20_000.0), -3_000.0)
    cold.step(3_600.0)
    assert cold.export_wh == 3_000
    assert 50.0 - cold.soc_pct > 50.0 - warm.soc_pct  # the same export costs the cold battery more
    assert efficiency(-40.0) < efficiency(-10.0) < efficiency(20.0) <= 1.0


def test_a_bidirectional_ev_stops_at_its_floor_and_a_plain_ev_never_discharges() -> None:
    st = _plant_with(BidirEv(soc_pct=10.5, min_soc_pct=10.0, capacity_wh=10_000.0), -7_000.0)
    st.step(600.0)
    assert st.power_w == 0.0 and 9.0 < st.soc_pct <= 10.5
    plain = _plant_with(Ev(soc_pct=50.0), -3_000.0)
    plain.step(60.0)
    assert plain.power_w == 0.0 and plain.export_wh == 0 and plain.soc_pct == 50.0
    charging = _plant_with(BidirEv(soc_pct=50.0, max_power_w=11_000.0), 4_000.0)
    charging.step(1.0)
    assert charging.power_w == 4_000.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, firmware_dir: Path) -> Iterator[Rig]:
    """Three charging stations on one backend: capable behind a proxy, capable, not capable."""
    tmp = tmp_path_factory.mktemp("v2g")
    backend = InProcessBackend(tmp)
    plant = ThreadedPlant()
    proxy = ThreadedProxy("127.0.0.1", backend.port, tap=True)
    make, made = dut_factory(tmp, plant, firmware_dir)
    stations: list[Station] = []
    try:
        for i, capable in enumerate((True, True, False)):
            dut = make(backend, url=proxy.url("/ocpp") if i == 0 else None, password=PASSWORD,  # type: ignore[arg-type]
                       config=dut_config(MeterValuesSampledData=MEASURANDS), discharge_capable=capable,
                       max_power_w=22_000, link_loss_fallback_s=FALLBACK_S)
            stations.append(Station(dut, plant.station(dut.id), capable))
        start_charging(stations)
        yield Rig(backend, plant, proxy, stations)
    finally:
        for d in made:
            d.stop()
        proxy.close()
        plant.close()
        backend.stop()


def test_stations_report_the_smart_charging_keys_and_the_discharge_extension(rig: Rig) -> None:
    for st in rig.stations:
        answer = rig.backend.command(st.id, "GetConfiguration", {"key": [
            "FrostgridDischargeCapable", "ChargeProfileMaxStackLevel", "SupportedFeatureProfiles"]})
        keys = {k["key"]: k for k in answer["configuration_key"]}
        assert keys["FrostgridDischargeCapable"]["value"] == ("true" if st.capable else "false")
        assert keys["FrostgridDischargeCapable"]["readonly"] is True
        assert "SmartCharging" in keys["SupportedFeatureProfiles"]["value"]
        refused = rig.backend.command(st.id, "ChangeConfiguration",
                                      {"key": "FrostgridDischargeCapable", "value": "true"})
        assert refused["status"] == "Rejected"


def test_a_tx_profile_reduces_charging_to_its_limit_at_the_meter(rig: Rig) -> None:
    rig.clear_all()
    for st, limit in zip(rig.stations, (4_000, 6_000, 2_500), strict=True):
        assert rig.send_profile(st, limit) == "Accepted"
    for st, limit in zip(rig.stations, (4_000, 6_000, 2_500), strict=True):
        wait_power(st, limit)
    composite = rig.backend.command(rig.stations[1].id, "GetCompositeSchedule",
                                    {"connector_id": 1, "duration": 600, "charging_rate_unit": "W"})
    periods = composite["charging_schedule"]["charging_schedule_period"]
    assert composite["status"] == "Accepted" and periods[0]["limit"] == 6_000


def test_a_negative_limit_discharges_capable_stations_and_stops_the_others_at_zero(rig: Rig) -> None:
    rig.clear_all()
    for st in rig.stations:
        assert rig.send_profile(st, -3_000) == "Accepted"
    for st in rig.stations:
        wait_power(st, -3_000 if st.capable else 0)
    before = {st.id: (st.plant.export_wh, st.plant.soc_pct, st.plant.energy_wh) for st in rig.stations}
    capable = [st for st in rig.stations if st.capable]
    wait_until(lambda: all(st.plant.export_wh >= before[st.id][0] + 2 for st in capable), 30,
               what="export registers rising")
    for st in rig.stations:
        export_wh, soc_pct, import_wh = before[st.id]
        if st.capable:  # energy flows out of the battery, none in
            assert st.plant.soc_pct < soc_pct and st.plant.energy_wh == import_wh
        else:  # nothing flows either way
            assert st.plant.export_wh == export_wh and st.plant.power_w == 0

    # the station behind the proxy reports the discharge as export, with the EV's SoC
    def exported() -> dict[str, float] | None:
        for _, frame in reversed(calls(rig.proxy.messages, "MeterValues")):
            sampled = frame[3]["meterValue"][0]["sampledValue"]
            values = {sv.get("measurand"): float(sv["value"]) for sv in sampled}
            if min(values.get("Power.Active.Export", 0), values.get("Energy.Active.Export.Register", 0)) > 0:
                return values
        return None
    values = wait_until(exported, 30, what="a MeterValues with export")
    st = rig.stations[0]
    assert abs(values["Power.Active.Export"] - 3_000) <= TOL_W
    assert values["Energy.Active.Export.Register"] <= st.plant.export_wh
    assert abs(values["SoC"] - st.plant.soc_pct) <= 1


def test_a_profile_that_expires_returns_the_station_to_charging(rig: Rig) -> None:
    rig.clear_all()
    st = rig.stations[1]
    assert rig.send_profile(st, -3_000, duration_s=25) == "Accepted"
    wait_power(st, -3_000)
    wait_power(st, EV_MAX_W, timeout=60)


def test_link_lost_longer_than_the_fallback_time_returns_to_charging_only(rig: Rig) -> None:
    rig.clear_all()
    st = rig.stations[0]  # behind the proxy
    assert rig.send_profile(st, -3_000) == "Accepted"
    wait_power(st, -3_000)
    mark = st.dut.mark()
    rig.proxy.cut()
    try:
        st.dut.wait_for(r"DISCONNECTED", 20, since=mark)
        lost = time.monotonic()
        assert st.plant.power_w < 0, "a short outage does not stop the discharge"
        wait_power(st, EV_MAX_W, timeout=FALLBACK_S + 40)
        assert time.monotonic() - lost >= FALLBACK_S - 1.5, "charge-only came before the fallback time"
    finally:
        rig.proxy.restore()
    wait_until(lambda: rig.backend.connected(st.id), 60, what="reconnected")
    wait_power(st, -3_000)  # the profile holds again once the link is back


def test_an_emergency_zero_stops_every_station_drawing_power(rig: Rig) -> None:
    rig.clear_all()
    assert rig.send_profile(rig.stations[1], -3_000) == "Accepted"
    wait_power(rig.stations[1], -3_000)
    for st in rig.stations:
        assert rig.send_profile(st, 0, purpose="ChargePointMaxProfile", stack=8) == "Accepted"
    wait_until(lambda: all(st.plant.power_w == 0 for st in rig.stations), 45, what="every station at 0 W")
    registers = {st.id: (st.plant.energy_wh, st.plant.export_wh) for st in rig.stations}
    time.sleep(2)
    assert {st.id: (st.plant.energy_wh, st.plant.export_wh) for st in rig.stations} == registers
    assert all(st.plant.contactor for st in rig.stations)  # the sessions go on, at 0 W
    rig.clear_all()


def test_installed_profiles_survive_a_power_cut(rig: Rig) -> None:
    rig.clear_all()
    st = rig.stations[2]
    assert rig.send_profile(st, 5_000, purpose="TxDefaultProfile", stack=3) == "Accepted"
    assert rig.send_profile(st, 2_000) == "Accepted"  # a TxProfile: it ends with the transaction
    wait_power(st, 2_000)
    mark = st.dut.mark()
    st.dut.restart()  # SIGKILL: a power cut at whatever the firmware was doing
    st.dut.wait_for(r"BOOT_ACCEPTED", 60, since=mark)
    composite = rig.backend.command(st.id, "GetCompositeSchedule",
                                    {"connector_id": 1, "duration": 300, "charging_rate_unit": "W"})
    assert [p["limit"] for p in composite["charging_schedule"]["charging_schedule_period"]] == [5_000]
