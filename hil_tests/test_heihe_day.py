"""A Heihe winter day with arrivals: the station wakes cold at 06:00 on the coldest day of the
series, drivers come as the reference arrival process says, and every session is billed from the
Modbus meter's register while the zone temperatures reach the backend."""

from __future__ import annotations

import time

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.climate import load
from hil_tests.cold_rig import cold_dut, temperatures
from hil_tests.conftest import MakeDut
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.scenario import CARD, settle, station_txs, wait_online
from hil_tests.thermal_plant import AC7, arrivals

SCALE = 600.0  # thermal seconds per wall second: ten hours in about a minute
SPAN_S = 10 * 3600.0  # 06:00 to 16:00
SEED = 1  # five arrivals, the first at 06:38 while the station is still warming up


def test_heihe_day_every_session_billed_from_the_meter_register_and_temperatures_stored(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    climate = load("heihe_winter")
    day = climate.coldest_window(24) // 24
    start_s = day * 86400.0 + 6 * 3600.0
    ambient = climate.at(start_s)[0]
    cold = ColdPlant(AC7, temp_c=ambient, climate=climate, start_s=start_s, time_scale=SCALE)
    bus = MeterBus("DTSU666", address=1)
    dut, st = cold_dut(make_dut, backend, plant, AC7, cold=cold, meter=bus)
    plan = arrivals(AC7, SPAN_S, 6 * 3600, SEED)
    assert len(plan) >= 4
    dut.start()
    wait_online(dut, backend)

    served = 0
    session_end: float | None = None
    zone_range = [min(cold.temps_c), max(cold.temps_c)]
    for a in plan:
        while cold.t_s < a.t_s:
            if session_end is not None and cold.t_s >= session_end:
                # the EV is full: it stops drawing, the driver unplugs
                st.stop_request()
                wait_until(lambda: not st.contactor, 10, what="contactor open")
                settle(1.5)  # a fresh meter reading after the current stopped
                mark = dut.mark()
                st.unplug()
                dut.wait_for(r"TX_STOP ltx=\d+ reason=EVDisconnected", 15, since=mark)
                session_end = None
            zone_range = [min(zone_range[0], *cold.temps_c), max(zone_range[1], *cold.temps_c)]
            time.sleep(0.05)
        if session_end is not None:
            continue  # the connector is busy: this driver leaves
        st.plug_in(Ev(max_power_w=7000.0, soc_pct=20.0))
        st.present_tag(CARD)
        session_end = a.t_s + a.session_s
        served += 1
    while session_end is not None and cold.t_s < min(session_end, SPAN_S + 3 * 3600):
        time.sleep(0.05)
    if session_end is not None:
        st.stop_request()
        wait_until(lambda: not st.contactor, 10, what="contactor open")
        settle(1.5)
        st.unplug()
    assert served >= 3

    # every session, start and stop, is the meter's register around the energy the plant delivered
    intervals = st.contactor_closed_intervals()

    def all_stopped() -> list[dict] | None:
        t = station_txs(backend, dut.id)
        return t if len(t) == served and all(x["meter_stop_wh"] is not None for x in t) else None

    txs = wait_until(all_stopped, 30, what="every session stored")
    assert len(intervals) >= served
    billed = [(t["meter_start_wh"], t["meter_stop_wh"]) for t in txs]
    closes = {c for c, _ in intervals}
    opens = {o for _, o in intervals}
    for start, stop in billed:
        assert start in closes and stop in opens, (billed, intervals)
    assert sum(stop - start for start, stop in billed) == sum(o - c for c, o in intervals if o is not None)
    assert all(stop > start for start, stop in billed), billed

    # the contactor never closed on a cold zone, and the zones' temperatures reached the backend
    for what, _, temps in cold.marks:
        if what == "contactor_close":
            assert all(temps[i] >= AC7.zones[i].min_c for i in AC7.charge_guard_indexes()), temps
    stored = temperatures(backend, dut.id)
    assert {loc for loc, _ in stored} >= {"Body", "Cable"}
    assert len(stored) >= 10
    assert all(zone_range[0] - 1 <= v <= zone_range[1] + 1 for _, v in stored), (zone_range, stored[:5])
    assert st.violations == []
