"""Mohe design day: the station boots at −42 °C; the interlock holds, the zones warm, charging
starts only after, when the plant's physics says the zones are warm enough."""

from __future__ import annotations

import time
from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.climate import load
from hil_tests.cold_rig import cold_dut, ready_time_s, status_history, temperatures
from hil_tests.conftest import MakeDut
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import ColdPlant
from hil_tests.scenario import CARD, finished_tx, settle, unplug_and_finish, wait_bound, wait_online
from hil_tests.thermal_plant import AC7

TIME_SCALE = 180.0  # thermal seconds per wall second: a 90-minute heat-up takes 30 s
START_S = 21.375 * 3600  # 21:22 local on the Mohe design day: ambient −42 °C and falling
HYST_K = 2.0


def _connector(backend: BackendProc, station_id: str) -> dict[str, Any]:
    return backend.station(station_id)["connectors"][-1]


def test_mohe_boot_at_minus_42_holds_charging_until_the_zones_are_warm(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    climate = load("mohe_design_48h")
    assert abs(climate.at(START_S)[0] + 42.0) < 0.1
    cold = ColdPlant(AC7, temp_c=-42.0, climate=climate, start_s=START_S, time_scale=TIME_SCALE)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold)
    expect_s = ready_time_s(AC7, -42.0, climate, START_S, hyst_k=HYST_K)
    dut.start()
    wait_online(dut, backend)

    # idle and cold: not available for charging, and the backend is told why
    c = wait_until(lambda: (lambda c: c if c["vendor_error_code"] == "FG_COLD" else None)(
        _connector(backend, dut.id)), 15, what="FG_COLD reported")
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

    ltx = int(m.group(1))
    meter_stop = unplug_and_finish(st, dut, ltx)
    tx = finished_tx(backend, txid)
    assert tx["meter_stop_wh"] == meter_stop == st.energy_wh
    assert st.violations == []


def test_ev_tripping_in_the_cold_gets_a_growing_back_off_instead_of_a_cycling_contactor(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    cold = ColdPlant(AC7, temp_c=-5.0, ambient_c=-30.0, time_scale=10.0)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold,
                       restart={"base_s": 2, "max_s": 8, "tries": 3})
    dut.start()
    wait_online(dut, backend)
    mark = dut.mark()
    st.plug_in(Ev(max_power_w=7000.0))
    st.present_tag(CARD)
    dut.wait_for(r"TX_START", 20, since=mark)
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
