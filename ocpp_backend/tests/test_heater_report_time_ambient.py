"""Heater reports with the station's reading time ``ts`` and the ambient temperature ``amb_c``
(DataTransfer Frostgrid/Heater, docs/interfaces.md §1.6), sent over OCPP as the firmware sends them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ocpp_backend.backend import Backend
from ocpp_backend.tests.test_heater_reports import readings_of, send_heater, stored_rows
from ocpp_backend.timeutil import parse_ocpp_time


def report(ts: Any = None, amb_c: Any = None, **extra: Any) -> str:
    """A one-zone heater report's data text, with ``ts`` and ``amb_c`` when given (not None)."""
    body: dict[str, Any] = {
        "zones": [{"name": "electronics", "duty_pm": 420, "energy_wh": 7.5, "t_c": -12.0}],
        "alarms": [],
        **extra,
    }
    if ts is not None:
        body["ts"] = ts
    if amb_c is not None:
        body["amb_c"] = amb_c
    return json.dumps(body)


def minutes_ago(minutes: float) -> str:
    """An RFC 3339 UTC time ``minutes`` before now, as the station's clock writes it."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_a_report_resent_by_the_station_is_stored_once(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    data = report(ts=minutes_ago(3), amb_c=-31.5)
    # the station did not get the first answer (link lost) and sends the same report again
    assert await send_heater(api_backend, data) == "Accepted"
    assert await send_heater(api_backend, data) == "Accepted"

    assert await stored_rows(api_backend) == 3  # duty, energy, ambient: once each
    assert len(await readings_of(api, "Frostgrid.Heater.Duty")) == 1
    assert len(await readings_of(api, "Frostgrid.Ambient")) == 1


async def test_readings_of_a_report_carry_the_stations_reading_time(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    ts = minutes_ago(10)
    assert await send_heater(api_backend, report(ts=ts, amb_c=-20)) == "Accepted"

    rows = await readings_of(api, "Frostgrid.Heater.Energy") + await readings_of(api, "Frostgrid.Ambient")

    assert len(rows) == 2
    assert {parse_ocpp_time(r["timestamp"]) for r in rows} == {parse_ocpp_time(ts)}


async def test_two_reports_without_a_time_are_both_kept_at_their_reception_times(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    before = datetime.now(UTC)
    assert await send_heater(api_backend, report()) == "Accepted"
    assert await send_heater(api_backend, report()) == "Accepted"
    after = datetime.now(UTC)

    duty = await readings_of(api, "Frostgrid.Heater.Duty")

    assert len(duty) == 2
    times = sorted(parse_ocpp_time(r["timestamp"]) for r in duty)
    assert before <= times[0] < times[1] <= after


async def test_the_ambient_temperature_is_stored_on_connector_0_without_a_transaction(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    assert await send_heater(api_backend, report(ts=minutes_ago(1), amb_c=-38.25)) == "Accepted"

    ambient = await readings_of(api, "Frostgrid.Ambient")

    assert [
        (r["value"], r["unit"], r["location"], r["connector_id"], r["transaction_id"]) for r in ambient
    ] == [(-38.25, "Celsius", "Body", 0, None)]


async def test_a_report_with_a_null_ambient_stores_the_zones_and_no_ambient(
    api_backend: Backend, api: httpx.AsyncClient
) -> None:
    data = json.dumps({"zones": [{"name": "cable", "duty_pm": 0, "energy_wh": 0}], "amb_c": None, "ts": None})
    assert await send_heater(api_backend, data) == "Accepted"

    assert await readings_of(api, "Frostgrid.Ambient") == []
    assert len(await readings_of(api, "Frostgrid.Heater.Duty")) == 1


@pytest.mark.parametrize(
    "data",
    [
        report(ts="2026-01-05"),  # a date, no time
        report(ts="2026-01-05T10:00:00"),  # no offset: which instant?
        report(ts="2026-13-05T10:00:00Z"),
        report(ts="yesterday"),
        report(ts=1767607200),  # epoch seconds are not RFC 3339
        report(ts=minutes_ago(1), amb_c="-30"),
        report(ts=minutes_ago(1), amb_c=True),
        report(ts=minutes_ago(1), amb_c=[-30]),
        report(ts=minutes_ago(1), amb_c=1e9),
        report(ts=minutes_ago(1), amb_c=-273.15),
    ],
)
async def test_a_report_with_a_malformed_time_or_ambient_is_rejected_and_nothing_is_stored(
    api_backend: Backend, data: str
) -> None:
    assert await send_heater(api_backend, data) == "Rejected"

    assert await stored_rows(api_backend) == 0
