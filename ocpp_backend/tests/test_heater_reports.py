"""Heater reports (DataTransfer Frostgrid/Heater, docs/interfaces.md §1.6) stored as readings.

A CPython charge point sends the report exactly as the firmware does (``app_cold_evt.report``):
``data`` is a JSON text with the duty (per mille) and energy of each zone.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import func, select

from ocpp_backend.backend import Backend
from ocpp_backend.models import MeterValue
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD


def heater_data(*zones: tuple[str, Any, Any]) -> str:
    """The ``data`` text of a heater report with (name, duty_pm, energy_wh) zones."""
    return json.dumps(
        {
            "zones": [
                {"name": name, "duty_pm": duty, "energy_wh": energy, "t_c": -18.2}
                for name, duty, energy in zones
            ],
            "alarms": [],
        }
    )


async def send_heater(backend: Backend, data: Any, message_id: str = "Heater") -> str:
    """Send one Frostgrid DataTransfer as station CP-1; returns the backend's status."""
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answer = await cp.call(call.DataTransfer(vendor_id="Frostgrid", message_id=message_id, data=data))
    return str(answer.status)


async def readings_of(api: httpx.AsyncClient, measurand: str) -> list[dict[str, Any]]:
    """CP-1's stored readings of ``measurand`` over the last 24 h, from the readings route."""
    answer = await api.get("/stations/CP-1/readings", params={"measurand": measurand})
    assert answer.status_code == 200
    return list(answer.json())


async def stored_rows(backend: Backend) -> int:
    """Meter rows stored for CP-1."""
    await backend.services.meter_data.writer.flush()
    async with backend.services.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(MeterValue).where(MeterValue.station_id == "CP-1")
        )
    return int(count or 0)


async def test_a_heater_report_comes_back_from_the_readings_route_per_zone(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    status = await send_heater(api_backend, heater_data(("electronics", 350, 12.3), ("display", 0, 1.5)))
    assert status == "Accepted"

    duty = await readings_of(api, "Frostgrid.Heater.Duty")
    energy = await readings_of(api, "Frostgrid.Heater.Energy")

    assert {(r["measurand"], r["value"], r["unit"]) for r in duty} == {
        ("Frostgrid.Heater.Duty:electronics", 35.0, "Percent"),
        ("Frostgrid.Heater.Duty:display", 0.0, "Percent"),
    }
    assert {(r["measurand"], r["value"], r["unit"]) for r in energy} == {
        ("Frostgrid.Heater.Energy:electronics", 12.3, "Wh"),
        ("Frostgrid.Heater.Energy:display", 1.5, "Wh"),
    }
    one_zone = await readings_of(api, "Frostgrid.Heater.Duty:display")
    assert [r["value"] for r in one_zone] == [0.0]


async def test_stored_heater_readings_have_no_transaction_and_are_published_live(
    api_backend: Backend,
) -> None:
    events = api_backend.bus.subscribe(["meter.readings"])
    assert await send_heater(api_backend, heater_data(("electronics", 1000, 40.0))) == "Accepted"

    published = await events.get(10.0)
    await api_backend.services.meter_data.writer.flush()
    async with api_backend.services.db.session() as session:
        rows = list(await session.scalars(select(MeterValue).where(MeterValue.station_id == "CP-1")))

    assert published.station_id == "CP-1" and published.data["transaction_id"] is None
    assert {r["measurand"]: r["value"] for r in published.data["readings"]} == {
        "Frostgrid.Heater.Duty:electronics": 100.0,
        "Frostgrid.Heater.Energy:electronics": 40.0,
    }
    assert len(rows) == 2
    assert all(row.transaction_id is None and row.connector_id == 0 for row in rows)
    assert {row.location for row in rows} == {"Body"}


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        None,
        json.dumps(["zones"]),
        json.dumps({"alarms": []}),
        json.dumps({"zones": "electronics"}),
        json.dumps({"zones": [17]}),
        heater_data(("", 100, 1.0)),
        heater_data(("x" * 41, 100, 1.0)),
        heater_data(("electronics", 1001, 1.0)),
        heater_data(("electronics", -1, 1.0)),
        heater_data(("electronics", "350", 1.0)),
        heater_data(("electronics", True, 1.0)),
        heater_data(("electronics", 350, None)),
        heater_data(("electronics", 350, -0.5)),
        heater_data(("electronics", 350, 1.0), ("electronics", 100, 2.0)),
        # one good zone does not save a report with a bad one: nothing of it is kept
        heater_data(("electronics", 350, 1.0), ("display", 100, "lots")),
    ],
)
async def test_a_malformed_heater_report_is_rejected_and_nothing_is_stored(
    api_backend: Backend, api: httpx.AsyncClient, data: Any
) -> None:
    assert await send_heater(api_backend, data) == "Rejected"

    assert await readings_of(api, "Frostgrid.Heater.Duty") == []
    assert await stored_rows(api_backend) == 0


async def test_the_station_stays_connected_after_a_rejected_report(api_backend: Backend) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        bad = await cp.call(call.DataTransfer(vendor_id="Frostgrid", message_id="Heater", data="{"))
        report = heater_data(("cable", 500, 2.0))
        good = await cp.call(call.DataTransfer(vendor_id="Frostgrid", message_id="Heater", data=report))
    assert (bad.status, good.status) == ("Rejected", "Accepted")
    assert await stored_rows(api_backend) == 2


async def test_heater_readings_are_stored_on_sqlite_and_postgresql(any_backend: Backend) -> None:
    long_name = "z" * 40  # the longest zone name the measurand column holds
    assert await send_heater(any_backend, heater_data((long_name, 250, 3.5))) == "Accepted"

    latest = await any_backend.services.meter_data.latest_for_station("CP-1")

    assert {(row.measurand, row.value) for row in latest} == {
        (f"Frostgrid.Heater.Duty:{long_name}", 25.0),
        (f"Frostgrid.Heater.Energy:{long_name}", 3.5),
    }


async def test_other_frostgrid_messages_are_not_stored_as_heater_readings(api_backend: Backend) -> None:
    assert await send_heater(api_backend, json.dumps({"n": 3}), message_id="Journal") == "Accepted"
    assert await stored_rows(api_backend) == 0
