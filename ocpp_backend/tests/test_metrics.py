"""Prometheus /metrics: scraped after driving stations, the numbers match what they did."""

from __future__ import annotations

import asyncio

import httpx
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD, BackendFactory


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _scrape(api_backend: Backend, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.get(f"http://127.0.0.1:{api_backend.http_port}/metrics", headers=headers)


async def test_metrics_count_the_fleets_messages_commands_alarms_and_writes(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    viewer = (await api_backend.services.access.create_token("viewer", "prometheus")).token
    heartbeats = {"CP-1": 3, "CP-2": 5}
    async with (
        open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp1,
        open_station(api_backend.ocpp_url, "CP-2", PASSWORD) as cp2,
    ):
        alarms = api_backend.bus.subscribe(["alarm.raised"])
        for cp in (cp1, cp2):
            await cp.call(
                call.BootNotification(charge_point_vendor="Frostgrid", charge_point_model="AC7-sim")
            )
            for _ in range(heartbeats[cp.id]):
                await cp.call(call.Heartbeat())
        await cp2.call(
            call.StatusNotification(
                connector_id=1,
                error_code="OtherError",
                status="Faulted",
                vendor_id="Frostgrid",
                vendor_error_code="FG_HEATER",
            )
        )
        await alarms.get(10)
        for _ in range(2):
            assert (await api.post("/stations/CP-1/reset", json={"type": "Soft"})).status_code == 200
        del cp1.route_map["UnlockConnector"]  # answered with a CALLERROR
        assert (await api.post("/stations/CP-1/unlock", json={"connector_id": 1})).status_code == 502
        cp2.mute = True  # never answers: the command times out (2 s in the tests)
        assert (await api.post("/stations/CP-2/clear-cache")).status_code == 504
        scraped = await _scrape(api_backend, viewer)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(scraped.text)

    assert _value(samples, "frostgrid_stations_connected") == 2
    assert _value(samples, "frostgrid_ocpp_messages_total", action="Heartbeat", direction="in") == 8
    assert _value(samples, "frostgrid_ocpp_messages_total", action="BootNotification", direction="in") == 2
    assert _value(samples, "frostgrid_ocpp_messages_total", action="StatusNotification", direction="in") == 1
    assert _value(samples, "frostgrid_ocpp_handler_seconds_count", action="Heartbeat") == 8
    assert _value(samples, "frostgrid_ocpp_handler_seconds_sum", action="Heartbeat") > 0
    assert _value(samples, "frostgrid_ocpp_messages_total", action="Reset", direction="out") == 2
    assert _value(samples, "frostgrid_command_rtt_seconds_count", action="Reset", outcome="answered") == 2
    assert (
        _value(samples, "frostgrid_command_rtt_seconds_count", action="UnlockConnector", outcome="error") == 1
    )
    assert _value(samples, "frostgrid_command_rtt_seconds_count", action="ClearCache", outcome="timeout") == 1
    assert _value(samples, "frostgrid_command_rtt_seconds_sum", action="ClearCache", outcome="timeout") >= 1.8
    assert _value(samples, "frostgrid_alarms_open", kind="heater_fault") == 1
    assert _value(samples, "frostgrid_alarms_open", kind="offline") == 0
    # Each StatusNotification inserts a history row and each alarm a row; boots update stations.
    assert _value(samples, "frostgrid_db_write_seconds_count", statement="insert") >= 2
    assert _value(samples, "frostgrid_db_write_seconds_count", statement="update") >= 2

    # After the stations leave, the gauge follows.
    await asyncio.sleep(0.2)
    after = _samples((await _scrape(api_backend, viewer)).text)
    assert _value(after, "frostgrid_stations_connected") == 0


async def test_metrics_need_a_token_unless_made_public(
    api_backend: Backend, sqlite_url: str, make_backend: BackendFactory
) -> None:
    assert (await _scrape(api_backend, None)).status_code == 401
    dispatcher = (await api_backend.services.access.create_token("dispatcher", "grid")).token
    assert (await _scrape(api_backend, dispatcher)).status_code == 403
    async with make_backend(
        sqlite_url.replace(".db", "-public.db"), http_port=0, metrics_public=True
    ) as public:
        open_scrape = await _scrape(public, None)
    assert open_scrape.status_code == 200
    assert "frostgrid_stations_connected" in open_scrape.text
