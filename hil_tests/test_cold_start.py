"""Mohe design day: the station boots at −42 °C; the interlock holds, the zones warm, charging
starts only after, when the plant's physics says the zones are warm enough. An EV that trips in the
cold is backed off and restarts soft. The thresholds are OCPP configuration keys; the heater reports
carry their reading time and the ambient temperature."""

from __future__ import annotations

import time
from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.climate import load
from hil_tests.cold_rig import cold_dut, query, ready_time_s, status_history, temperatures
from hil_tests.conftest import MakeDut
from hil_tests.dut import Dut
from hil_tests.plant import Ev, StationPlant, ThreadedPlant
from hil_tests.plant_cold import ColdPlant
from hil_tests.scenario import CARD, finished_tx, settle, unplug_and_finish, wait_bound, wait_online
from hil_tests.thermal_plant import AC7, time_to_reach_s

TIME_SCALE = 180.0  # thermal seconds per wall second: a 90-minute heat-up takes 30 s
START_S = 21.375 * 3600  # 21:22 local on the Mohe design day: ambient −42 °C and falling
HYST_K = 2.0


def _connector(backend: BackendProc, station_id: str) -> dict[str, Any]:
    return backend.station(station_id)["connectors"][-1]


def _held_cold(backend: BackendProc, station_id: str, what: str, timeout: float = 15) -> dict[str, Any]:
    """The connector once the backend has it held by the cold interlock (FG_COLD)."""
    return wait_until(lambda: (lambda c: c if c["vendor_error_code"] == "FG_COLD" else None)(
        _connector(backend, station_id)), timeout, what=what)


def _change(backend: BackendProc, station_id: str, key: str, value: str) -> str:
    """ChangeConfiguration through the operator API: the station's answer."""
    r = backend.http.put(f"stations/{station_id}/configuration", json={"key": key, "value": value},
                         timeout=45)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def _start_charging(dut: Dut, backend: BackendProc, st: StationPlant) -> int:
    """Start the device, plug in an EV and present the card: the log mark before the plug-in."""
    dut.start()
    wait_online(dut, backend)
    mark = dut.mark()
    st.plug_in(Ev(max_power_w=7000.0))
    st.present_tag(CARD)
    dut.wait_for(r"TX_START", 20, since=mark)
    return mark


def test_mohe_boot_at_minus_42_holds_charging_until_the_zones_are_warm(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    climate = load("mohe_design_48h")
    assert abs(climate.at(START_S)[0] + 42.0) < 0.1
    cold = ColdPlant(AC7, temp_c=-42.0, climate=climate, start_s=START_S, time_scale=TIME_SCALE,
                     ambient_channel=len(AC7.zones))
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold)
    expect_s = ready_time_s(AC7, -42.0, climate, START_S, hyst_k=HYST_K)
    dut.start()
    wait_online(dut, backend)

    # idle and cold: not available for charging, and the backend is told why
    c = _held_cold(backend, dut.id, "FG_COLD reported")
    assert c["status"] == "Unavailable" and c["error_code"] == "NoError"
    assert c["info"].startswith("cold zone=electronics t=-4"), c["info"]
    # the heater command reaches the plant on the board's next poll, which may come just after the
    # status notification that announced the interlock
    wait_until(lambda: cold.duty_pm[0] == 1000 and cold.duty_pm[1] == 1000, 3,
               what="guarding zones heating at full duty")

    # a driver arrives while the interlock holds: the EV waits, the contactor stays open
    ltx_mark = dut.mark()
    st.plug_in(Ev(max_power_w=7000.0))
    st.present_tag(CARD)
    wait_until(lambda: _connector(backend, dut.id)["status"] == "Preparing", 15, what="Preparing")
    assert _connector(backend, dut.id)["vendor_error_code"] == "FG_COLD"
    assert not st.contactor and cold.t_s < expect_s

    # charging begins once the zones are warm, and not before
    m = dut.wait_for(r"TX_START ltx=(\d+)", expect_s / TIME_SCALE + 60, since=ltx_mark)
    wait_until(lambda: st.contactor, 10, what="contactor closed")
    what, t_close, temps = cold.marks[0]
    assert what == "contactor_close"
    for i in AC7.charge_guard_indexes():
        assert temps[i] >= AC7.zones[i].min_c, f"contactor closed on a cold zone: {temps}"
    # the interlock's release time is the plant's physics (plus one control step of latency)
    slack = max(120.0, 0.05 * expect_s) + 0.5 * TIME_SCALE
    assert abs(t_close - expect_s) <= slack, (t_close, expect_s)
    txid = wait_bound(dut, int(m.group(1)))
    wait_until(lambda: _connector(backend, dut.id)["status"] == "Charging", 15, what="Charging")
    assert not _connector(backend, dut.id)["vendor_error_code"]

    # the cold start is on record: FG_COLD while held (Unavailable, then Preparing), then cleared
    hist = [h for h in status_history(backend, dut.id) if h[0] == 1]
    held = [h for h in hist if h[4] == "FG_COLD"]
    assert [h[1] for h in held][:2] == ["Unavailable", "Preparing"], hist
    assert all(h[2] == "NoError" for h in held)
    assert hist[-1][1] == "Charging" and hist[-1][4] is None

    # zone temperatures reach the backend (electronics = Body, connector = Cable)
    wait_until(lambda: {loc for loc, _ in temperatures(backend, dut.id)} >= {"Body", "Cable"}, 20,
               what="temperatures stored")
    body = [v for loc, v in temperatures(backend, dut.id) if loc == "Body"]
    assert min(body) < -30.0 and max(body) > -25.0, "the warm-up is on record"

    # the heater reports carry the station clock's time and the ambient thermistor's reading
    amb = wait_until(lambda: ambient(backend, dut.id) or None, 20, what="ambient readings stored")
    assert all(-48.0 < v < -38.0 for _, v in amb), amb
    stamps = [t for t, _ in amb]
    assert len(set(stamps)) == len(stamps), "one report, one reading time"

    ltx = int(m.group(1))
    meter_stop = unplug_and_finish(st, dut, ltx)
    tx = finished_tx(backend, txid)
    assert tx["meter_stop_wh"] == meter_stop == st.energy_wh
    assert st.violations == []


def ambient(backend: BackendProc, station_id: str) -> list[tuple[str, float]]:
    """(timestamp, °C) of the ambient readings the backend stored from the heater reports."""
    return [(t, float(v)) for t, v in query(
        backend, "SELECT timestamp, value FROM meter_values WHERE station_id = ? "
        "AND measurand = 'Frostgrid.Ambient' ORDER BY timestamp", station_id)]


def test_ev_tripping_in_the_cold_gets_a_growing_back_off_instead_of_a_cycling_contactor(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=-5.0, ambient_c=-30.0, time_scale=10.0)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold,
                       restart={"base_s": 2, "max_s": 8, "tries": 3})
    mark = _start_charging(dut, backend, st)
    wait_until(lambda: st.contactor, 10, what="charging")
    gaps = []
    for n in (1, 2):
        st.set_fault(True)  # the EV's charger trips (pilot F)...
        wait_until(lambda: not st.contactor, 5, what="contactor open on the trip")
        opened = time.monotonic()
        st.set_fault(False)  # ...and is ready again at once
        dut.wait_for(rf"EV_TRIP n={n} wait_ms=(\d+)", 5, since=mark)
        wait_until(lambda: st.contactor, 20, what="contactor closed after the back-off")
        gaps.append(time.monotonic() - opened)
    assert 2.0 <= gaps[0] < 4.0 and 4.0 <= gaps[1] < 7.0, gaps
    # the third trip: the guard gives up until the EV is unplugged; the session is not restarted
    st.set_fault(True)
    wait_until(lambda: not st.contactor, 5, what="contactor open")
    st.set_fault(False)
    dut.wait_for(r"EV_TRIP n=3", 5, since=mark)
    settle(10)
    assert not st.contactor
    assert len(dut.grep(r"TX_START", since=mark)) == 1
    closes = [h for h in st.history if h[1] == "contactor_close"]
    assert len(closes) == 3, closes
    assert st.violations == []


def test_ev_restarting_after_a_trip_in_the_cold_ramps_its_current_from_a_quarter_to_full(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=-5.0, ambient_c=-30.0, time_scale=10.0)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold, max_power_w=7000,
                       restart={"base_s": 2, "max_s": 8, "tries": 3, "ramp_s": 8})
    mark = _start_charging(dut, backend, st)
    wait_until(lambda: st.power_w >= 6900.0, 10, what="charging at the full 7 kW")
    st.set_fault(True)  # the EV's charger trips...
    wait_until(lambda: not st.contactor, 5, what="contactor open on the trip")
    st.set_fault(False)  # ...and is ready again at once
    dut.wait_for(r"EV_TRIP n=1 wait_ms=2000", 5, since=mark)
    wait_until(lambda: st.contactor, 10, what="contactor closed after the back-off")
    closed = time.monotonic()
    # the EV's power follows the firmware's limit: a quarter of 7 kW at the restart...
    wait_until(lambda: st.power_w > 0.0, 3, what="current after the restart")
    first = st.power_w
    assert 1500.0 <= first <= 2600.0, first
    # ...rising over the 8 s ramp (25 % + 75 % x elapsed / 8 s), to the full 7 kW at its end
    samples = []
    while time.monotonic() - closed < 10.0:
        samples.append((time.monotonic() - closed, st.power_w))
        time.sleep(0.25)
    mid = [w for t, w in samples if 3.5 <= t <= 4.5]
    assert mid and all(3200.0 <= w <= 5800.0 for w in mid), samples
    assert all(b >= a - 1.0 for (_, a), (_, b) in zip(samples, samples[1:], strict=False)), samples
    assert samples[-1][1] >= 6900.0, samples
    closes = [h for h in st.history if h[1] == "contactor_close"]
    assert len(closes) == 2, "one close per start, never a cycling contactor"
    assert st.violations == []


def test_thresholds_are_configuration_keys_applied_at_once_and_kept_over_a_reboot(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=-10.0, ambient_c=-10.0, time_scale=1.0)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold)
    dut.start()
    wait_online(dut, backend)
    wait_until(lambda: _connector(backend, dut.id)["status"] == "Available", 20, what="Available")

    every = backend.get(f"stations/{dut.id}/configuration")
    keys = {k["key"]: k for k in every["configuration_key"]}
    for z in AC7.zones:
        assert keys[f"FrostgridZoneMinC.{z.name}"]["value"] == f"{z.min_c:g}"
        assert keys[f"FrostgridZoneHystK.{z.name}"]["value"] == "2"
        assert keys[f"FrostgridZoneCutoffC.{z.name}"]["value"] == f"{z.cutoff_c:g}"
        assert keys[f"FrostgridZoneMinC.{z.name}"]["readonly"] is False
    assert keys["FrostgridStandbyFloorC"]["value"] == "-38"
    assert "HeartbeatInterval" in keys and every["unknown_key"] == []

    assert _change(backend, dut.id, "FrostgridZoneMinC.electronics", "-60") == "Rejected"
    assert _change(backend, dut.id, "FrostgridZoneCutoffC.electronics", "cold") == "Rejected"
    # a minimum above the zone's -10 °C holds charging at once, without a reboot
    assert _change(backend, dut.id, "FrostgridZoneMinC.electronics", "-5.5") == "Accepted"
    c = _held_cold(backend, dut.id, "FG_COLD at the new minimum")
    assert c["status"] == "Unavailable" and c["info"].startswith("cold zone=electronics"), c
    wait_until(lambda: cold.duty_pm[0] == 1000, 5, what="the electronics heating up to it")

    dut.restart()  # the value is kept in config.json
    wait_online(dut, backend)
    answer = backend.get(f"stations/{dut.id}/configuration", key="FrostgridZoneMinC.electronics")
    assert [(k["key"], k["value"]) for k in answer["configuration_key"]] == \
        [("FrostgridZoneMinC.electronics", "-5.5")]
    wait_until(lambda: _connector(backend, dut.id)["vendor_error_code"] == "FG_COLD", 15,
               what="still held after the reboot")
    assert _change(backend, dut.id, "FrostgridZoneMinC.electronics", "-20") == "Accepted"
    wait_until(lambda: _connector(backend, dut.id)["vendor_error_code"] is None, 15,
               what="released at the old minimum")
    assert st.violations == []


def _learned_its_heater(backend: BackendProc, plant: ThreadedPlant,
                        make_dut: MakeDut) -> tuple[Dut, StationPlant, ColdPlant, dict[str, Any]]:
    """A station booted cold in still air at −25 °C, warmed and held for an hour: the electronics
    zone's model has seen its heater (full duty, then a little, over two quarter-hour windows).
    Returns the device, its plant, the cold zones and the connector at the first FG_COLD hold."""
    cold = ColdPlant(AC7, temp_c=-25.0, ambient_c=-25.0, time_scale=TIME_SCALE)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold)
    dut.start()
    wait_online(dut, backend)
    first = _held_cold(backend, dut.id, "FG_COLD at boot")
    wait_until(lambda: _connector(backend, dut.id)["status"] == "Available", 60, what="warm")
    t_learn = cold.t_s + 3600.0
    wait_until(lambda: cold.t_s >= t_learn, 3600.0 / TIME_SCALE + 10, what="an hour of holding")
    return dut, st, cold, first


def _raise_electronics_min(backend: BackendProc, station_id: str, by_k: float) -> dict[str, Any]:
    """The operator raises the electronics zone's minimum: the connector once held again."""
    elec = AC7.zones[AC7.zone_index("electronics")]
    answer = _change(backend, station_id, "FrostgridZoneMinC.electronics", f"{elec.min_c + by_k:g}")
    assert answer == "Accepted", answer
    return _held_cold(backend, station_id, "FG_COLD at the new minimum")


def test_a_driver_who_plugs_in_while_held_is_told_how_long_the_heat_up_takes(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    # after a heat-up and a hold the electronics zone's model knows its heater, so a new hold can
    # say how long it will take
    dut, st, cold, first = _learned_its_heater(backend, plant, make_dut)
    assert "eta=" not in first["info"], "no estimate before the heater has been seen"

    # the operator raises the electronics' minimum 5 K: held again, now with an estimate
    elec = AC7.zones[AC7.zone_index("electronics")]
    _raise_electronics_min(backend, dut.id, 5)
    mark = dut.mark()
    t_plug_c = cold.temp_c("electronics")
    st.plug_in(Ev(max_power_w=7000.0))
    c = wait_until(lambda: (lambda c: c if c["status"] == "Preparing" and "eta=" in (c["info"] or "")
                            else None)(_connector(backend, dut.id)), 15, what="Preparing with eta")
    info = c["info"]
    eta_s = 60.0 * int(info[info.index("eta=") + 4:info.index("min", info.index("eta="))])
    # the plant's physics from the zone's temperature at the plug-in; the estimate is made within
    # about a wall second (3 thermal minutes) of it, hence the slack
    physics_s = time_to_reach_s(elec, t_plug_c, elec.min_c + 5 + HYST_K, -25.0, 0.0)
    assert 0.6 * physics_s - 180.0 <= eta_s <= 1.5 * physics_s + 180.0, (info, t_plug_c, physics_s)
    st.present_tag(CARD)
    dut.wait_for(r"TX_START", physics_s / TIME_SCALE + 30, since=mark)
    assert st.violations == []


def test_a_reset_keeps_what_the_thermal_controller_learned(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    # as above, the electronics zone's model learns its heater in a heat-up and an hour of holding;
    # then the operator resets the station (as a firmware update would): the firmware saves what it
    # learned before the board resets and reads it back at boot, so the first hold after the boot
    # already has its estimate (a model starting afresh has none until it has seen its heater)
    dut, st, cold, _ = _learned_its_heater(backend, plant, make_dut)
    dut.wait_for(r"THERMAL_LEARNED none", 5, since=0)
    assert not (dut.data_dir / "learned.bin").exists(), "the hourly save (wall clock) is not due yet"

    mark = dut.mark()
    r = backend.http.post(f"stations/{dut.id}/reset", json={"type": "Soft"}, timeout=45)
    assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
    dut.wait_for(r"LEARNED saved", 10, since=mark)
    dut.wait_for(r"#HIL exit rc=3", 10, since=mark)
    dut.wait_for(r"THERMAL_LEARNED ok", 10, since=mark)
    wait_online(dut, backend, since=mark)
    t_boot = cold.t_s

    c = _raise_electronics_min(backend, dut.id, 5)
    assert "eta=" in c["info"], c["info"]
    # well before a fresh model could have learned its heater (two quarter-hour windows)
    assert cold.t_s - t_boot < 1800.0, cold.t_s - t_boot
    assert st.violations == []
