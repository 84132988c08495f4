"""Hypothesis: whatever answers get lost, a replayed journal leaves exactly one copy of every
transaction and reading in the store.

The firmware sends its journal in order with one CALL outstanding; when an answer is lost it
resends the same record (possibly several times, possibly after reconnecting). So the backend sees
each record one or more times, in journal order. Frames go through ``StationConnection.route_message``
(schema validation, handlers, services, store) with a fake socket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ocpp_backend.bus import InProcessBus
from ocpp_backend.csms.station import StationConnection
from ocpp_backend.db import Database
from ocpp_backend.models import MeterValue, Station, Transaction
from ocpp_backend.services import Services
from ocpp_backend.settings import Settings
from ocpp_backend.timeutil import format_ocpp_time

T0 = datetime(2025, 1, 20, 22, 0, tzinfo=UTC)
_station_numbers = itertools.count(1)


class FakeSocket:
    """Collects what the backend sends."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, frame: str) -> None:
        self.sent.append(json.loads(frame))


session_plan = st.tuples(
    st.integers(min_value=0, max_value=50_000),  # meter start (Wh)
    st.lists(st.integers(min_value=1, max_value=3_000), max_size=4),  # energy added per reading
)
plans = st.lists(session_plan, min_size=1, max_size=3)
repeats = st.lists(st.integers(min_value=1, max_value=3), min_size=30, max_size=30)  # sends per record


def journal(plan: list[tuple[int, list[int]]]) -> list[tuple[str, int, dict[str, Any]]]:
    """(kind, local session number, payload) in the order the firmware journals them."""
    records = []
    t = 0
    for ltx, (meter_start, increments) in enumerate(plan):
        t += 60
        records.append(
            (
                "S",
                ltx,
                {
                    "connectorId": 1,
                    "idTag": "TAG",
                    "meterStart": meter_start,
                    "timestamp": format_ocpp_time(T0 + timedelta(seconds=t)),
                },
            )
        )
        energy = meter_start
        for added in increments:
            t += 30
            energy += added
            records.append(
                (
                    "M",
                    ltx,
                    {
                        "connectorId": 1,
                        "meterValue": [
                            {
                                "timestamp": format_ocpp_time(T0 + timedelta(seconds=t)),
                                "sampledValue": [
                                    {
                                        "value": str(energy),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                    }
                                ],
                            }
                        ],
                    },
                )
            )
        t += 30
        records.append(
            (
                "T",
                ltx,
                {
                    "meterStop": energy + 7,
                    "timestamp": format_ocpp_time(T0 + timedelta(seconds=t)),
                    "reason": "EVDisconnected",
                },
            )
        )
    return records


async def replay(db_url: str, plan: list[tuple[int, list[int]]], sends: list[int]) -> None:
    station_id = f"HYP-{next(_station_numbers)}"
    db = Database(db_url)
    services = Services.build(Settings(db_url=db_url, meter_batch_ms=1), db, InProcessBus())
    await services.start()
    try:
        async with db.session() as session:
            session.add(Station(id=station_id, password_hash="-", connected=True))
        socket = FakeSocket()
        cp = StationConnection(station_id, socket, services)
        backend_ids: dict[int, int] = {}
        uid = itertools.count()
        for (kind, ltx, payload), times in zip(journal(plan), sends, strict=False):
            action = {"S": "StartTransaction", "M": "MeterValues", "T": "StopTransaction"}[kind]
            payload = dict(payload)
            if kind in "MT":
                payload["transactionId"] = backend_ids[ltx]
            for _ in range(times):
                await cp.route_message(json.dumps([2, f"u{next(uid)}", action, payload]))
                answer = socket.sent[-1]
                assert answer[0] == 3, answer
                if kind == "S":
                    assert (
                        backend_ids.setdefault(ltx, answer[2]["transactionId"]) == answer[2]["transactionId"]
                    )

        async with db.session() as session:
            transactions = list(
                await session.scalars(
                    select(Transaction).where(Transaction.station_id == station_id).order_by(Transaction.id)
                )
            )
            readings = await session.scalar(
                select(func.count()).select_from(MeterValue).where(MeterValue.station_id == station_id)
            )
        assert [t.id for t in transactions] == [backend_ids[ltx] for ltx in range(len(plan))]
        for t, (meter_start, increments) in zip(transactions, plan, strict=True):
            assert t.meter_start_wh == meter_start
            assert t.energy_wh == sum(increments) + 7
        assert readings == sum(len(increments) for _, increments in plan)
    finally:
        await services.stop()
        await db.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, sends=repeats)
def test_replayed_journal_stores_every_session_and_reading_once(migrated_sqlite: str, plan, sends) -> None:
    asyncio.run(replay(migrated_sqlite, plan, sends))
