"""Firmware replays its journal after a reconnect: Start, Stop and MeterValues whose answers were
lost arrive again and must not create duplicates (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call
from sqlalchemy import func, select

from ocpp_backend.backend import Backend
from ocpp_backend.models import MeterValue, Transaction
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.tests.test_core_flow import energy_sample, ts


async def _counts(backend: Backend) -> tuple[int, int]:
    async with backend.db.session() as session:
        return (
            await session.scalar(select(func.count()).select_from(Transaction)),
            await session.scalar(select(func.count()).select_from(MeterValue)),
        )


async def test_replayed_start_after_reconnect_returns_the_same_transaction_id(any_backend: Backend) -> None:
    start = call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=500, timestamp=ts(0))
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        first = await cp.call(start)
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        replayed = await cp.call(start)
        # A different start (later timestamp) on the same connector is a new transaction.
        other = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=500, timestamp=ts(1))
        )
    assert replayed.transaction_id == first.transaction_id
    assert replayed.id_tag_info == first.id_tag_info
    assert other.transaction_id != first.transaction_id
    assert (await _counts(any_backend))[0] == 2


async def test_concurrent_replays_of_one_start_make_one_transaction(any_backend: Backend) -> None:
    start = call.StartTransaction(connector_id=2, id_tag="TAG-OK", meter_start=7, timestamp=ts(3))
    async with (
        open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp1,
        open_station(any_backend.ocpp_url, "CP-2", PASSWORD) as cp2,
    ):
        # Same values from two different stations are two transactions...
        a, b = await asyncio.gather(cp1.call(start), cp2.call(start))
        assert a.transaction_id != b.transaction_id
    # ...while the same Start hitting the service concurrently yields one.
    from ocpp_backend.services.sessions import StartRequest
    from ocpp_backend.timeutil import parse_ocpp_time

    request = StartRequest("CP-1", 3, "TAG-OK", 9, parse_ocpp_time(ts(4)))
    results = await asyncio.gather(*(any_backend.services.sessions.start(request) for _ in range(5)))
    assert len({tx.id for tx, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_replayed_stop_is_accepted_and_not_counted_twice(any_backend: Backend) -> None:
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        tx_id = (
            await cp.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=1_000, timestamp=ts(0))
            )
        ).transaction_id
        stop = call.StopTransaction(
            meter_stop=1_800,
            timestamp=ts(600),
            transaction_id=tx_id,
            reason="Local",
            transaction_data=[energy_sample(600, 1_800, "Transaction.End")],
        )
        await cp.call(stop)
    counts_after_first = await _counts(any_backend)
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        replay = await cp.call(stop)
        # Even a "replay" with other values does not change a stopped transaction.
        await cp.call(call.StopTransaction(meter_stop=9_999, timestamp=ts(900), transaction_id=tx_id))
    assert replay is not None
    assert await _counts(any_backend) == counts_after_first
    view = await any_backend.services.sessions.get(tx_id)
    assert (view.transaction.meter_stop_wh, view.energy_wh, view.transaction.stop_reason) == (
        1_800,
        800,
        "Local",
    )


async def test_stop_for_a_transaction_the_backend_never_saw_is_accepted(any_backend: Backend) -> None:
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answer = await cp.call(
            call.StopTransaction(
                meter_stop=5,
                timestamp=ts(1),
                transaction_id=424242,
                id_tag="TAG-OK",
                transaction_data=[energy_sample(1, 5, "Transaction.End")],
            )
        )
    assert answer.id_tag_info["status"] == "Accepted"
    assert await _counts(any_backend) == (0, 0)


async def test_stop_for_another_stations_transaction_does_not_touch_it(any_backend: Backend) -> None:
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp1:
        tx_id = (
            await cp1.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(0))
            )
        ).transaction_id
    async with open_station(any_backend.ocpp_url, "CP-2", PASSWORD) as cp2:
        await cp2.call(call.StopTransaction(meter_stop=100, timestamp=ts(5), transaction_id=tx_id))
    assert (await any_backend.services.sessions.get(tx_id)).transaction.active


async def test_replayed_meter_values_are_stored_once(any_backend: Backend) -> None:
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        tx_id = (
            await cp.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(0))
            )
        ).transaction_id
        readings = call.MeterValues(
            connector_id=1,
            transaction_id=tx_id,
            meter_value=[energy_sample(60, 100), energy_sample(120, 200)],
        )
        await cp.call(readings)
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(readings)
        await cp.call(
            call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[energy_sample(180, 300)])
        )
    view = await any_backend.services.sessions.get(tx_id)
    energy = [(mv.timestamp, mv.value) for mv in view.meter_values if mv.unit == "Wh"]
    assert [value for _, value in energy] == [100, 200, 300]
    assert len(view.meter_values) == 6
    assert view.energy_wh == 300  # active: latest register reading - meter start
