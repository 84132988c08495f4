"""Billing from the Modbus RTU meter when the bus misbehaves: CRC noise must not change a single
Wh of the bill; a meter unplugged mid-session ends it cleanly on the last good register, reports
FG_METER and refuses new sessions until the meter answers again."""

from __future__ import annotations

from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.cold_rig import alarm, cold_dut, status_history
from hil_tests.conftest import MakeDut
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import MeterBus
from hil_tests.scenario import (
    CARD,
    assert_readings_consistent,
    finished_tx,
    plug_and_authorize,
    settle,
    unplug_and_finish,
    wait_bound,
    wait_online,
)
from hil_tests.thermal_plant import AC7


def _connector(backend: BackendProc, station_id: str) -> dict[str, Any]:
    return backend.station(station_id)["connectors"][-1]


def test_crc_noise_on_the_bus_leaves_every_session_billed_to_the_wh(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    bus = MeterBus("SDM630", address=7, seed=3)
    bus.emulator.crc_error_probability = 0.25  # a quarter of the replies arrive with a flipped bit
    dut, st = cold_dut(make_dut, backend, plant, AC7, meter=bus)
    dut.start()
    wait_online(dut, backend)
    for _ in range(2):
        ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
        txid = wait_bound(dut, ltx)
        settle(4)
        # the driver ends the charge from the car, then unplugs
        st.stop_request()
        wait_until(lambda: not st.contactor, 5, what="contactor open")
        settle(2)
        unplug_and_finish(st, dut, ltx)
        tx = finished_tx(backend, txid)
        closed, opened = st.contactor_closed_intervals()[-1]
        assert opened is not None and opened > closed
        assert (tx["meter_start_wh"], tx["meter_stop_wh"]) == (closed, opened), "billed = register"
        assert tx["stop_reason"] == "EVDisconnected"
        assert_readings_consistent(tx)
    assert bus.emulator.corrupted > 5, "the noise was injected"
    assert all(h[4] != "FG_METER" for h in status_history(backend, dut.id)), "noise is not a dead meter"
    assert not backend.get("alarms", station_id=dut.id, kind="meter_fault")
    assert st.violations == []


def test_meter_unplugged_mid_session_ends_it_on_the_last_good_register_and_reports_fg_meter(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    bus = MeterBus("DTSU666", address=1)
    dut, st = cold_dut(make_dut, backend, plant, AC7, meter=bus)
    dut.start()
    wait_online(dut, backend)
    ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
    txid = wait_bound(dut, ltx)
    settle(3)

    mark = dut.mark()
    at_unplug = st.energy_wh
    bus.unplug()
    m = dut.wait_for(rf"TX_STOP ltx={ltx} reason=(\w+) meter=(\d+)", 20, since=mark)
    assert m.group(1) == "Other"
    wait_until(lambda: not st.contactor, 5, what="contactor open")
    tx = finished_tx(backend, txid)
    assert tx["stop_reason"] == "Other"
    # the last reading the meter gave before its cable was pulled: at most one read period old
    assert at_unplug - 11_000 * 1.0 / 3600 - 1 <= tx["meter_stop_wh"] <= at_unplug, (tx, at_unplug)
    assert tx["meter_stop_wh"] == int(m.group(2))
    c = wait_until(lambda: (lambda c: c if c["vendor_error_code"] == "FG_METER" else None)(
        _connector(backend, dut.id)), 15, what="FG_METER reported")
    assert (c["status"], c["error_code"]) == ("Faulted", "PowerMeterFailure")
    assert c["info"] == "meter timeout"
    alarm(backend, dut.id, "meter_fault")

    # no new session without a meter to bill from
    st.unplug()
    mark = dut.mark()
    st.plug_in(Ev(max_power_w=11_000.0))
    st.present_tag(CARD)
    settle(3)
    assert not dut.grep(r"TX_START", since=mark) and not st.contactor

    # the cable back: the fault clears and the driver can start
    bus.plug()
    wait_until(lambda: not _connector(backend, dut.id)["vendor_error_code"], 15, what="FG_METER cleared")
    alarm(backend, dut.id, "meter_fault", open_=False)
    st.present_tag(CARD)
    dut.wait_for(r"TX_START", 15, since=mark)
    assert st.violations == []
