"""The dashboard's data feed: the live event stream (SSE) and the readings of a station over time."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from ocpp.v16 import call

from ocpp_backend.api.events import CLIENT_QUEUE, EventHub
from ocpp_backend.backend import Backend
from ocpp_backend.bus import Event, InProcessBus
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD, BackendFactory
from ocpp_backend.tests.test_core_flow import energy_sample, ts


@dataclass
class Sse:
    """One Server-Sent Event as a client sees it."""

    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        """The data field as JSON."""
        return json.loads(self.data)


class SseReader:
    """Reads the frames of a ``text/event-stream`` response one by one."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout_s: float = 10.0) -> Sse:
        """The next event (comments and ``retry`` lines are skipped)."""
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> Sse:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    return Sse(fields.get("event", "message"), fields.get("data", ""), fields.get("id"))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        raise EOFError("stream ended")

    async def until(self, kind: str, timeout_s: float = 10.0) -> Sse:
        """Skip events until one of ``kind`` arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            event = await self.next(max(0.01, deadline - loop.time()))
            if event.event == kind:
                return event


@asynccontextmanager
async def stream(
    backend: Backend, token: str, last_event_id: str | None = None, **params: str
) -> AsyncIterator[SseReader]:
    """An open event stream of ``backend`` as the holder of ``token``."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=backend.api_url, timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", "/events", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)


@asynccontextmanager
async def api_with_token(
    make_backend: BackendFactory, sqlite_url: str, **overrides: Any
) -> AsyncIterator[tuple[Backend, str]]:
    """A backend with its REST API on a free port, station CP-1 and an admin API token."""
    token = "fgt_" + secrets.token_urlsafe(32)
    async with make_backend(
        sqlite_url, stations={"CP-1": PASSWORD}, http_port=0, admin_token=token, **overrides
    ) as backend:
        await backend.services.id_tokens.put("TAG-OK")
        yield backend, token


async def test_stream_shows_a_station_connecting_reporting_and_charging_live(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    async with (
        api_with_token(make_backend, sqlite_url) as (backend, token),
        stream(backend, token) as events,
    ):
        hello = await events.next()
        assert hello.event == "hello" and hello.json()["resync"] is True
        assert (await events.next()).event == "resync"
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            connected = await events.until("station.connected")
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            status = await events.until("connector.status")
            tx_id = (
                await cp.call(
                    call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=100, timestamp=ts(0))
                )
            ).transaction_id
            started = await events.until("session.started")
            await cp.call(
                call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[energy_sample(60, 150)])
            )
            readings = await events.until("meter.readings")
        disconnected = await events.until("station.disconnected")

    assert connected.json()["station_id"] == "CP-1"
    assert status.json()["data"]["status"] == "Charging"
    assert started.json()["data"]["transaction_id"] == tx_id
    values = {r["measurand"]: r["value"] for r in readings.json()["data"]["readings"]}
    assert values == {"Energy.Active.Import.Register": 150, "Power.Active.Import": 7200}
    assert disconnected.json()["kind"] == "station.disconnected"
    ids = [e.id for e in (connected, status, started, readings, disconnected)]
    epoch = {i.rsplit("-", 1)[0] for i in ids if i}
    seqs = [int(i.rsplit("-", 1)[1]) for i in ids if i]
    assert len(epoch) == 1 and seqs == sorted(seqs) and len(set(seqs)) == 5


async def test_a_client_that_reconnects_with_last_event_id_gets_what_it_missed(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    async with api_with_token(make_backend, sqlite_url) as (backend, token):
        async with stream(backend, token) as events:
            await backend.bus.publish(Event("connector.status", "CP-1", {"connector_id": 1, "status": "A"}))
            seen = await events.until("connector.status")
        for status in ("B", "C"):  # while the client is away
            change = {"connector_id": 1, "status": status}
            await backend.bus.publish(Event("connector.status", "CP-1", change))
        async with stream(backend, token, last_event_id=seen.id) as events:
            hello = await events.next()
            missed = [await events.next(), await events.next()]

    assert hello.event == "hello" and hello.json()["resync"] is False
    assert [e.json()["data"]["status"] for e in missed] == ["B", "C"]


async def test_an_unknown_last_event_id_makes_the_client_resync(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    async with (
        api_with_token(make_backend, sqlite_url) as (backend, token),
        stream(backend, token, last_event_id="0000dead-5") as events,
    ):
        hello = await events.next()
        resync = await events.next()
    assert hello.json()["resync"] is True and resync.event == "resync"


async def test_a_stream_can_be_narrowed_to_one_station_and_some_kinds(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    async with (
        api_with_token(make_backend, sqlite_url) as (backend, token),
        stream(backend, token, station_id="CP-1", kinds="session.started") as events,
    ):
        await events.until("resync")
        await backend.bus.publish(Event("session.started", "CP-2", {"transaction_id": 1}))
        await backend.bus.publish(Event("connector.status", "CP-1", {"status": "Charging"}))
        await backend.bus.publish(Event("session.started", "CP-1", {"transaction_id": 2}))
        only = await events.next()
    assert (only.event, only.json()["station_id"], only.json()["data"]) == (
        "session.started", "CP-1", {"transaction_id": 2}
    )


async def test_the_stream_needs_credentials(make_backend: BackendFactory, sqlite_url: str) -> None:
    async with (
        api_with_token(make_backend, sqlite_url) as (backend, _token),
        httpx.AsyncClient(base_url=backend.api_url, timeout=10) as client,
    ):
        assert (await client.get("/events")).status_code == 401
        bad = await client.get("/events", headers={"Authorization": "Bearer fgt_not-a-token"})
        assert bad.status_code == 401


async def test_readings_of_a_station_come_back_for_the_range_asked_oldest_first(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    async with api_with_token(make_backend, sqlite_url) as (backend, token):
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            tx_id = (
                await cp.call(
                    call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=100, timestamp=ts(0))
                )
            ).transaction_id
            samples = [energy_sample(s, 100 + s) for s in (60, 120, 180, 240)]
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=samples))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=backend.api_url, headers=headers, timeout=10) as client:
            window = await client.get(
                "/stations/CP-1/readings",
                params={"since": ts(100), "until": ts(200), "measurand": "Energy.Active.Import.Register"},
            )
            everything = await client.get(
                "/stations/CP-1/readings", params={"since": ts(0), "until": ts(300)}
            )
            newest_two = await client.get(
                "/stations/CP-1/readings",
                params={"since": ts(0), "until": ts(300), "limit": 2, "measurand": "Power.Active.Import"},
            )
            unknown = await client.get("/stations/NOPE/readings")
            backwards = await client.get(
                "/stations/CP-1/readings", params={"since": ts(200), "until": ts(100)}
            )

    assert window.status_code == 200
    assert [(r["value"], r["transaction_id"]) for r in window.json()] == [(220, tx_id), (280, tx_id)]
    assert len(everything.json()) == 8  # energy and power of four samples
    times = [r["timestamp"] for r in everything.json()]
    assert times == sorted(times)
    power_times = [r["timestamp"] for r in everything.json() if r["measurand"] == "Power.Active.Import"]
    assert [r["timestamp"] for r in newest_two.json()] == power_times[-2:]
    assert unknown.status_code == 404
    assert backwards.status_code == 422


async def test_a_client_that_falls_behind_is_told_to_resync_instead_of_missing_events_silently() -> None:
    hub = EventHub(InProcessBus())
    slow = hub.open(None, None)
    for n in range(CLIENT_QUEUE + 5):
        hub.add(Event("connector.status", "CP-1", {"n": n}))
    queued = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert queued == [None]  # the marker that becomes a `resync` event
    hub.add(Event("connector.status", "CP-1", {"n": "after"}))
    assert slow.queue.empty() and slow.lost  # nothing more until the stream has sent the resync


async def test_replay_covers_exactly_the_events_still_in_the_ring() -> None:
    hub = EventHub(InProcessBus(), ring_size=3)
    ids = [f"{hub.epoch}-{hub.add(Event('session.started', 'CP-1', {'n': n})).seq}" for n in range(5)]
    assert hub.replay_from(ids[0]) is None  # event 2 has left the ring
    assert [item.event.data["n"] for item in hub.replay_from(ids[1]) or []] == [2, 3, 4]
    assert hub.replay_from(ids[4]) == []
    assert hub.replay_from(f"{hub.epoch}-99") is None  # from the future: not ours
    assert hub.replay_from("other-1") is None
