"""End to end: boot → authorize → start → meter values → stop, checked in the backend against the plant.

The same scenario runs with the backend on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.conftest import MakeDut, start_backend
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import (
    CARD,
    E_REG,
    POWER,
    assert_readings_consistent,
    calls,
    finished_tx,
    plug_and_authorize,
    readings,
    sample_gaps_s,
    settle,
    unplug_and_finish,
    wait_bound,
    wait_online,
)
from ocpp_backend.tests.pg import postgres_url

SAMPLE_S = 2


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendProc]:
    """A backend of its own on the store named by the parameter."""
    if request.param == "sqlite":
        b = start_backend(sqlite_url(tmp_path / "e2e.db"), tmp_path)
        yield b
        b.stop()
        return
    with postgres_url(prefix="fg_hil") as url:  # the machine's server, or a private one
        b = start_backend(url, tmp_path)
        try:
            yield b
        finally:
            b.stop()


def test_charging_session_reaches_the_backend_as_the_plant_measured_it(
    store_backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut,
    make_proxy: Callable[..., ThreadedProxy],
) -> None:
    backend = store_backend
    wire = make_proxy(backend.port)  # a plain pass-through that records the OCPP frames
    dut = make_dut(backend, url=wire.url("/ocpp"))
    st = plant.station(dut.id)
    dut.start()
    wait_online(dut, backend)
    meter_before = st.energy_wh

    ltx = plug_and_authorize(st, dut, CARD, Ev(max_power_w=11_000.0))
    txid = wait_bound(dut, ltx)
    settle(3 * SAMPLE_S + 0.5)
    assert st.contactor and st.power_w == pytest.approx(11_000.0)
    meter_stop = unplug_and_finish(st, dut, ltx)
    tx = finished_tx(backend, txid, min_readings=3)

    # the backend's record of the session is the plant's truth
    assert tx["station_id"] == dut.id and tx["connector_id"] == 1 and tx["id_tag"] == CARD
    assert tx["meter_start_wh"] == meter_before
    assert tx["meter_stop_wh"] == st.energy_wh == meter_stop
    assert tx["energy_wh"] == st.energy_wh - meter_before > 0
    assert tx["stop_reason"] == "EVDisconnected"
    assert tx["stop_time"] is not None

    # periodic meter values: one per interval, rising, between start and stop, power as delivered
    assert_readings_consistent(tx)
    energy = readings(tx)
    assert len(energy) >= 3
    assert all(g <= SAMPLE_S + 1 for g in sample_gaps_s(tx)), sample_gaps_s(tx)
    assert energy[-1][1] > energy[0][1]
    power = [v for _, v in readings(tx, POWER)]
    assert power and all(v == pytest.approx(11_000.0, abs=1) for v in power), power

    # the wire saw the whole story in order, each message once
    actions = [f[2] for _, f in calls(wire.messages)]
    assert actions[0] == "BootNotification"
    story = [a for a in actions if a in ("Authorize", "StartTransaction", "StopTransaction")]
    assert story == ["Authorize", "StartTransaction", "StopTransaction"], actions
    sent = [f[3] for _, f in calls(wire.messages, "MeterValues")]
    stamps = [mv["meterValue"][0]["timestamp"] for mv in sent]
    assert len(stamps) == len(set(stamps)) == len(energy), (stamps, energy)
    assert stamps == sorted(stamps)
    assert actions.index("StopTransaction") > max(i for i, a in enumerate(actions) if a == "MeterValues")
    stop = calls(wire.messages, "StopTransaction")[0][1][3]
    assert stop["transactionId"] == txid and stop["meterStop"] == tx["meter_stop_wh"]
    begin_end = [sv for mv in stop.get("transactionData") or [] for sv in mv["sampledValue"]
                 if sv.get("measurand", E_REG) == E_REG]
    assert [float(sv["value"]) for sv in begin_end] == [tx["meter_start_wh"], tx["meter_stop_wh"]]

    # the station is free again and the plant saw nothing unsafe
    wait_until(lambda: backend.station(dut.id)["connectors"][-1]["status"] == "Available", 10,
               what="connector Available")
    wait_until(lambda: not st.contactor and not st.lock_engaged, 2, what="contactor open, cable unlocked")
    assert st.violations == []
