"""Billing from the Modbus RTU meter when the bus misbehaves: CRC noise must not change a single
Wh of the bill; a meter unplugged mid-session ends it cleanly on the last good register, reports
FG_METER and refuses new sessions until the meter answers again. And what the meter reports
besides the bill: clock-aligned readings (ClockAlignedDataInterval) on connector 0 and in the
session, per-phase voltage and current in the session's readings, and the journal backlog report
that raises and clears the backend's journal_backlog alarm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.cold_rig import alarm, cold_dut, status_history
from hil_tests.conftest import MakeDut
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import MeterBus
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import (
    CARD,
    E_REG,
    assert_readings_consistent,
    calls,
    dut_config,
    finished_tx,
    plug_and_authorize,
    readings,
    settle,
    ts,
    unplug_and_finish,
    wait_bound,
    wait_online,
)
from hil_tests.thermal_plant import AC7

ALIGNED_S = 5


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


def test_clock_aligned_and_per_phase_readings_reach_the_backend_with_their_context(
        backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut) -> None:
    bus = MeterBus("DTSU666", address=1)
    config = dut_config(2, ClockAlignedDataInterval=ALIGNED_S, MeterValuesAlignedData=E_REG,
                        StopTxnAlignedData=E_REG, MeterValuesSampledData=f"{E_REG},Voltage,Current.Import")
    dut, st = cold_dut(make_dut, backend, plant, AC7, meter=bus, config=config)
    dut.start()
    wait_online(dut, backend)
    settle(2 * ALIGNED_S + 1)  # idle: the station's meter on connector 0
    ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
    txid = wait_bound(dut, ltx)
    settle(3 * ALIGNED_S)
    unplug_and_finish(st, dut, ltx)
    tx = finished_tx(backend, txid)
    assert_readings_consistent(tx)  # also: the Stop's clock-aligned values are not stored twice

    clock = readings(tx, E_REG, "Sample.Clock")
    assert len(clock) >= 2, tx["meter_values"]
    assert all(t.timestamp() % ALIGNED_S == 0 for t, _ in clock), clock
    values = [v for _, v in clock]
    assert values == sorted(values) and all(tx["meter_start_wh"] <= v <= tx["meter_stop_wh"] for v in values)

    periodic = [v for v in tx["meter_values"] if v["context"] == "Sample.Periodic"]
    volts = [v for v in periodic if v["measurand"] == "Voltage"]
    amps = [v for v in periodic if v["measurand"] == "Current.Import"]
    assert {v["phase"] for v in volts} == {"L1-N", "L2-N", "L3-N"} and {v["unit"] for v in volts} == {"V"}
    assert all(abs(v["value"] - 230.0) < 0.5 for v in volts), volts
    assert {v["phase"] for v in amps} == {"L1", "L2", "L3"} and {v["unit"] for v in amps} == {"A"}
    assert max(v["value"] for v in amps) > 10.0, "11 kW over three phases is ~16 A a phase"

    # idle: the station's meter on connector 0, outside any transaction (this list has no context)
    idle = [r for r in backend.get(f"stations/{dut.id}/readings", measurand=E_REG) if r["connector_id"] == 0]
    assert len(idle) >= 2 and all(r["transaction_id"] is None for r in idle), idle
    assert all(ts(r["timestamp"]).timestamp() % ALIGNED_S == 0 for r in idle), idle


def test_journal_backlog_of_a_link_cut_raises_the_alarm_and_its_replay_clears_it(
        tmp_path: Path, plant: ThreadedPlant, make_dut: MakeDut,
        make_proxy: Callable[..., ThreadedProxy]) -> None:
    # a backend that calls 5 waiting records a backlog (the default is 200)
    b = BackendProc(sqlite_url(tmp_path / "backlog.db"), cwd=tmp_path,
                    env={"FROSTGRID_ALARM_JOURNAL_BACKLOG_RECORDS": "5"})
    b.start()
    try:
        b.add_token(CARD)
        wire = make_proxy(b.port)
        dut = make_dut(b, url=wire.url("/ocpp"), config=dut_config(1))
        dut.start()
        wait_online(dut, b)
        st = plant.station(dut.id)
        ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
        wait_bound(dut, ltx)
        assert not dut.grep(r"JOURNAL_REPORT"), "nothing to report while the link is up"
        conns = wire.proxy.accepted
        wire.cut()
        settle(14)  # a reading a second, journaled
        mark = dut.mark()
        wire.restore()
        n = int(dut.wait_for(r"JOURNAL_REPORT n=(\d+)", 40, since=mark).group(1))
        assert n >= 10
        dut.wait_for(r"JOURNAL_REPORT n=0", 30, since=mark)
        cleared = alarm(b, dut.id, "journal_backlog", open_=False)
        assert cleared["clear_reason"] == "backlog down to 0", cleared
        assert f"{n} journal records" in cleared["message"], cleared
        # on the wire: the report went first on the new connection, ahead of the replay
        up = [(m.conn, f[2], f[3]) for m, f in calls(wire.messages) if m.conn > conns]
        actions = [a for _, a, _ in up]
        first_replay = actions.index("MeterValues")
        reports = [(i, p) for i, (_, a, p) in enumerate(up)
                   if a == "DataTransfer" and p["messageId"] == "Journal"]
        assert [p["data"] for _, p in reports] == [f'{{"n": {n}}}', '{"n": 0}'], reports
        assert reports[0][0] < first_replay < reports[1][0]
        assert st.contactor, "charging went on through the cut"
    finally:
        b.stop()
