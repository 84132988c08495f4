"""Network loss mid-transaction: charging goes on, and the backend later gets the whole story once, in order.

The link proxy between device and backend cuts the connection; the plant shows whether power still
flows; the device's journal (read with the firmware's own reader) shows what it owes; the proxy's
tap shows what went over the wire after the link came back; the REST API shows what was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.conftest import MakeDut
from hil_tests.dut import Dut
from hil_tests.plant import Ev, StationPlant, ThreadedPlant
from hil_tests.proxy import TapMessage, ThreadedProxy
from hil_tests.scenario import (
    CARD,
    JournalDump,
    assert_readings_consistent,
    calls,
    finished_tx,
    plug_and_authorize,
    read_journal,
    readings,
    record_payload,
    sample_gaps_s,
    settle,
    ts,
    unplug_and_finish,
    wait_bound,
    wait_online,
)

SAMPLE_S = 2
OFFLINE_SAMPLES = 3


def _online(backend: BackendProc, make_dut: MakeDut, make_proxy: Callable[..., ThreadedProxy]
            ) -> tuple[Dut, ThreadedProxy]:
    wire = make_proxy(backend.port)
    dut = make_dut(backend, url=wire.url("/ocpp"))
    dut.start()
    wait_online(dut, backend)
    return dut, wire


def _owed(dut: Dut, kinds: str = "STM") -> JournalDump:
    return read_journal(dut.data_dir, dut.station["journal_bytes"], dut.fw_dir)


def _charge_offline(st: StationPlant, dut: Dut, samples: int) -> JournalDump:
    """Keep charging with the link down until `samples` readings are journaled; check power flows."""
    last = st.energy_wh
    for _ in range(samples * 2):
        settle(SAMPLE_S / 2)
        assert st.contactor, "charging must go on while the backend is unreachable"
        assert st.energy_wh > last, "energy must keep flowing while offline"
        last = st.energy_wh
    return wait_until(lambda: (j := _owed(dut)) and len(j.of_kinds("M")) >= samples and j,
                      10, what=f"{samples} readings journaled offline")


def _meter_calls(messages: list[TapMessage]) -> list[tuple[int, str, float]]:
    """(connection, timestamp, energy register) of every MeterValues CALL on the wire, in wire order."""
    out = []
    for m, f in calls(messages, "MeterValues"):
        mv = f[3]["meterValue"][0]
        reg = [float(s["value"]) for s in mv["sampledValue"]
               if s.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"]
        out.append((m.conn, mv["timestamp"], reg[0] if reg else -1.0))
    return out


def _assert_replayed_once_in_order(owed: JournalDump, wire: ThreadedProxy, tx: dict[str, Any],
                                   first_conn_after: int) -> None:
    """Every journaled reading reached the backend once, replayed in journal order, none missing."""
    owed_m = [record_payload(k, d)["meterValue"][0] for _, k, d in owed.of_kinds("M")]
    owed_ts = [m["timestamp"] for m in owed_m]
    assert owed_ts == sorted(owed_ts), "the journal keeps readings in time order"
    sent = _meter_calls(wire.messages)
    replayed = [t for c, t, _ in sent if c >= first_conn_after]
    # replay starts with what was owed, in journal order
    assert replayed[: len(owed_ts)] == owed_ts, (replayed, owed_ts)
    # the backend stored each reading once; a reading resent because its answer was lost counts once
    stored = readings(tx)
    stored_ts = [t for t, _ in stored]
    assert len(stored_ts) == len(set(stored_ts))
    for m in owed_m:
        assert ts(m["timestamp"]) in stored_ts, f"journaled reading {m['timestamp']} never stored"
    wire_ts = {t for _, t, _ in sent}
    assert len(stored) == len(wire_ts), (len(stored), sorted(wire_ts))
    # no reading was skipped: one per interval across the whole transaction, offline time included
    assert all(g <= SAMPLE_S + 1 for g in sample_gaps_s(tx)), sample_gaps_s(tx)
    assert_readings_consistent(tx)


def test_charging_continues_through_a_link_cut_and_the_backend_gets_every_reading_once_in_order(
    backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut, make_proxy: Callable[..., ThreadedProxy],
) -> None:
    dut, wire = _online(backend, make_dut, make_proxy)
    st = plant.station(dut.id)
    e0 = st.energy_wh
    ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
    txid = wait_bound(dut, ltx)
    settle(2 * SAMPLE_S)
    conns_before = wire.proxy.accepted

    wire.cut()
    owed = _charge_offline(st, dut, OFFLINE_SAMPLES)
    wire.restore()
    wait_until(lambda: backend.connected(dut.id) and wire.proxy.accepted > conns_before, 40,
               what="device reconnected")
    settle(SAMPLE_S)
    assert st.contactor
    meter_stop = unplug_and_finish(st, dut, ltx)
    tx = finished_tx(backend, txid)

    assert tx["meter_start_wh"] == e0
    assert tx["meter_stop_wh"] == meter_stop == st.energy_wh
    assert tx["energy_wh"] == st.energy_wh - e0, "the backend's energy is the meter's"
    _assert_replayed_once_in_order(owed, wire, tx, conns_before + 1)
    assert len(calls(wire.messages, "StartTransaction")) == 1
    assert st.violations == []


def test_stop_while_offline_is_replayed_with_its_readings_when_the_link_returns(
    backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut, make_proxy: Callable[..., ThreadedProxy],
) -> None:
    dut, wire = _online(backend, make_dut, make_proxy)
    st = plant.station(dut.id)
    e0 = st.energy_wh
    ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=7_400.0))
    txid = wait_bound(dut, ltx)
    settle(SAMPLE_S)
    conns_before = wire.proxy.accepted

    wire.cut()
    _charge_offline(st, dut, 2)
    meter_stop = unplug_and_finish(st, dut, ltx, acked=False)
    assert not st.contactor
    owed = _owed(dut)
    assert [k for _, k, _ in owed.of_kinds("ST")] == ["T"], "the Stop waits in the journal"
    assert backend.transaction(txid)["meter_stop_wh"] is None, "the backend cannot know yet"

    mark = dut.mark()
    wire.restore()
    dut.wait_for(rf"TX_ACKED ltx={ltx}", 40, since=mark)
    tx = finished_tx(backend, txid)
    assert tx["meter_stop_wh"] == meter_stop == st.energy_wh
    assert tx["energy_wh"] == st.energy_wh - e0
    assert tx["stop_reason"] == "EVDisconnected"
    _assert_replayed_once_in_order(owed, wire, tx, conns_before + 1)
    stops = calls(wire.messages, "StopTransaction")
    assert len({f[1] for _, f in stops}) == 1 and stops[-1][1][3]["transactionId"] == txid
    last_mv = max(i for i, (_, f) in enumerate(calls(wire.messages)) if f[2] == "MeterValues")
    first_stop = min(i for i, (_, f) in enumerate(calls(wire.messages)) if f[2] == "StopTransaction")
    assert first_stop > last_mv, "the Stop goes after the transaction's readings"


def test_session_started_and_stopped_offline_gets_the_backend_transaction_id(
    backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut, make_proxy: Callable[..., ThreadedProxy],
) -> None:
    dut, wire = _online(backend, make_dut, make_proxy)
    st = plant.station(dut.id)
    # an online session puts the card in the authorization cache
    ltx1 = plug_and_authorize(st, dut, CARD)
    wait_bound(dut, ltx1)
    unplug_and_finish(st, dut, ltx1)
    txs_before = {t["id"] for t in backend.transactions(dut.id)}
    conns_before = wire.proxy.accepted

    wire.cut()
    settle(1)
    e0 = st.energy_wh
    mark = dut.mark()
    ltx2 = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
    dut.wait_for(rf"AUTHORIZED {CARD}", 1, since=mark)
    _charge_offline(st, dut, 2)
    meter_stop = unplug_and_finish(st, dut, ltx2, acked=False)
    owed = _owed(dut)
    assert [k for _, k, _ in owed.of_kinds("ST")] == ["S", "T"]
    start_offline = record_payload("S", owed.of_kinds("S")[0][2])

    mark = dut.mark()
    wire.restore()
    txid = int(dut.wait_for(rf"TX_BOUND ltx={ltx2} txid=(\d+)", 40, since=mark).group(1))
    dut.wait_for(rf"TX_ACKED ltx={ltx2}", 20, since=mark)
    assert txid not in txs_before
    tx = finished_tx(backend, txid)
    assert tx["id_tag"] == CARD
    assert tx["meter_start_wh"] == e0 == start_offline["meterStart"]
    assert tx["meter_stop_wh"] == meter_stop == st.energy_wh
    assert tx["energy_wh"] == st.energy_wh - e0
    assert ts(tx["start_time"]) == ts(start_offline["timestamp"]), "start time is when it started, offline"
    stop = [f for _, f in calls(wire.messages, "StopTransaction")][-1][3]
    assert stop["transactionId"] == txid, "the offline Stop carries the id the backend gave its Start"
    _assert_replayed_once_in_order(owed, wire, tx, conns_before + 1)
    assert [t["id"] for t in backend.transactions(dut.id) if t["id"] not in txs_before] == [txid]
