"""OCPP 1.6 Core from boot to stop, with a charge point from the ocpp library, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ocpp.v16 import call
from sqlalchemy import func, select

from ocpp_backend.backend import Backend
from ocpp_backend.models import Connector, MeterValue, Station, StatusHistory, Transaction
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.timeutil import format_ocpp_time, parse_ocpp_time

T0 = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)  # a January morning in Harbin (UTC)


def ts(seconds: float) -> str:
    return format_ocpp_time(T0 + timedelta(seconds=seconds))


def energy_sample(seconds: float, energy_wh: int, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": ts(seconds),
        "sampledValue": [
            {
                "value": str(energy_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {"value": "7200", "context": context, "measurand": "Power.Active.Import", "unit": "W"},
        ],
    }


async def count(backend: Backend, model: type, *where: object) -> int:
    async with backend.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_boot_to_stop_stores_session_with_energy_stop_minus_start(any_backend: Backend) -> None:
    async with open_station(any_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        boot = await cp.call(
            call.BootNotification(
                charge_point_vendor="Frostgrid",
                charge_point_model="AC7",
                charge_point_serial_number="SN-1",
                firmware_version="0.1",
            )
        )
        assert boot.status == "Accepted"
        assert boot.interval == 60
        assert abs(parse_ocpp_time(boot.current_time) - datetime.now(UTC)) < timedelta(seconds=5)

        heartbeat = await cp.call(call.Heartbeat())
        assert abs(parse_ocpp_time(heartbeat.current_time) - datetime.now(UTC)) < timedelta(seconds=5)

        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=ts(0))
        )
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing", timestamp=ts(5))
        )
        auth = await cp.call(call.Authorize(id_tag="TAG-OK"))
        assert auth.id_tag_info["status"] == "Accepted"

        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=10_000, timestamp=ts(10))
        )
        assert start.id_tag_info["status"] == "Accepted"
        tx_id = start.transaction_id
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging", timestamp=ts(11))
        )
        for i in range(1, 4):
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx_id,
                    meter_value=[energy_sample(10 + 60 * i, 10_000 + 120 * i)],
                )
            )
        stop = await cp.call(
            call.StopTransaction(
                meter_stop=10_500,
                timestamp=ts(250),
                transaction_id=tx_id,
                reason="EVDisconnected",
                id_tag="TAG-OK",
                transaction_data=[
                    energy_sample(10, 10_000, "Transaction.Begin"),
                    energy_sample(250, 10_500, "Transaction.End"),
                ],
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Finishing", timestamp=ts(251)
            )
        )

    async with any_backend.db.session() as session:
        station = await session.get(Station, "CP-1")
        assert (station.vendor, station.model, station.serial_number, station.firmware_version) == (
            "Frostgrid",
            "AC7",
            "SN-1",
            "0.1",
        )
        assert station.boot_status == "Accepted"
        connector = await session.get(Connector, ("CP-1", 1))
        assert connector.status == "Finishing"
        assert connector.updated_at == T0 + timedelta(seconds=251)
        history = list(await session.scalars(select(StatusHistory.status).order_by(StatusHistory.id)))
        assert history == ["Available", "Preparing", "Charging", "Finishing"]
        tx = await session.get(Transaction, tx_id)
        assert (tx.station_id, tx.connector_id, tx.id_tag) == ("CP-1", 1, "TAG-OK")
        assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (10_000, 10_500, 500)
        assert (tx.start_time, tx.stop_time) == (T0 + timedelta(seconds=10), T0 + timedelta(seconds=250))
        assert tx.stop_reason == "EVDisconnected"
        energy = list(
            await session.scalars(
                select(MeterValue.value)
                .where(
                    MeterValue.transaction_id == tx_id,
                    MeterValue.measurand == "Energy.Active.Import.Register",
                )
                .order_by(MeterValue.timestamp)
            )
        )
        assert energy == [10_000, 10_120, 10_240, 10_360, 10_500]
    assert await count(any_backend, MeterValue, MeterValue.transaction_id == tx_id) == 10

    view = await any_backend.services.sessions.get(tx_id)
    assert view.energy_wh == 500
    assert [(r.context, r.value) for r in view.meter_values if r.unit == "Wh"][-1] == (
        "Transaction.End",
        10_500,
    )


async def test_unknown_tag_is_invalid_and_blocked_and_expired_tags_say_so(backend: Backend) -> None:
    tokens = backend.services.id_tokens
    await tokens.put("TAG-BLOCKED", "Blocked")
    await tokens.put("TAG-OLD", "Accepted", expiry_date=datetime.now(UTC) - timedelta(days=1))
    await tokens.put(
        "TAG-CHILD", "Accepted", expiry_date=datetime.now(UTC) + timedelta(days=30), parent_id_tag="FLEET-A"
    )
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answers = {
            tag: (await cp.call(call.Authorize(id_tag=tag))).id_tag_info
            for tag in ("TAG-OK", "NOBODY", "TAG-BLOCKED", "TAG-OLD", "TAG-CHILD")
        }
    assert {tag: info["status"] for tag, info in answers.items()} == {
        "TAG-OK": "Accepted",
        "NOBODY": "Invalid",
        "TAG-BLOCKED": "Blocked",
        "TAG-OLD": "Expired",
        "TAG-CHILD": "Accepted",
    }
    assert answers["TAG-CHILD"]["parent_id_tag"] == "FLEET-A"
    assert parse_ocpp_time(answers["TAG-CHILD"]["expiry_date"]) > datetime.now(UTC)


async def test_unknown_tags_are_accepted_when_the_setting_says_so(sqlite_url: str, make_backend) -> None:
    async with (
        make_backend(sqlite_url, stations={"CP-1": PASSWORD}, accept_unknown_tags=True) as backend,
        open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp,
    ):
        auth = await cp.call(call.Authorize(id_tag="NOBODY"))
    assert auth.id_tag_info["status"] == "Accepted"


async def test_start_with_a_refused_tag_still_gets_a_transaction_id(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="NOBODY", meter_start=0, timestamp=ts(0))
        )
    assert start.id_tag_info["status"] == "Invalid"
    async with backend.db.session() as session:
        assert (await session.get(Transaction, start.transaction_id)).id_tag == "NOBODY"


async def test_data_transfer_from_unknown_vendor_gets_unknown_vendor_id(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answer = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="hello", data="x"))
    assert answer.status == "UnknownVendorId"


async def test_firmware_and_diagnostics_status_notifications_are_accepted_and_published(
    backend: Backend,
) -> None:
    with backend.bus.subscribe(["station.notification"]) as events:
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            assert await cp.call(call.FirmwareStatusNotification(status="Installed")) is not None
            assert await cp.call(call.DiagnosticsStatusNotification(status="Idle")) is not None
        got = [await events.get(2), await events.get(2)]
    assert [(e.data["action"], e.data["status"]) for e in got] == [
        ("FirmwareStatusNotification", "Installed"),
        ("DiagnosticsStatusNotification", "Idle"),
    ]


async def test_meter_values_outside_a_transaction_are_stored_without_one(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(call.MeterValues(connector_id=0, meter_value=[energy_sample(0, 42)]))
        # A transactionId this station never started is kept as an unattached reading.
        await cp.call(
            call.MeterValues(connector_id=1, transaction_id=99999, meter_value=[energy_sample(1, 43)])
        )
    async with backend.db.session() as session:
        rows = list(
            await session.execute(
                select(MeterValue.transaction_id, MeterValue.value)
                .where(MeterValue.unit == "Wh")
                .order_by(MeterValue.timestamp)
            )
        )
    assert [tuple(r) for r in rows] == [(None, 42.0), (None, 43.0)]


async def test_sampled_values_get_the_spec_defaults(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(
            call.MeterValues(
                connector_id=1, meter_value=[{"timestamp": ts(0), "sampledValue": [{"value": "1234.5"}]}]
            )
        )
    async with backend.db.session() as session:
        row = await session.scalar(select(MeterValue))
    assert (row.measurand, row.context, row.location, row.unit, row.phase, row.value) == (
        "Energy.Active.Import.Register",
        "Sample.Periodic",
        "Outlet",
        "Wh",
        None,
        1234.5,
    )


async def test_connection_state_and_last_seen_are_tracked(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(call.Heartbeat())
        station = await backend.services.registry.get("CP-1")
        assert station.connected
        assert datetime.now(UTC) - station.last_seen < timedelta(seconds=5)
    for _ in range(100):
        station = await backend.services.registry.get("CP-1")
        if not station.connected:
            break
        await asyncio.sleep(0.02)
    assert not station.connected
    assert (await backend.services.registry.get("CP-2")).connected is False
