"""The dashboard's data feed: the live event stream (Server-Sent Events) and reading time series.

``GET /api/v1/events`` streams every bus event (station connect/disconnect, boot, connector status,
meter readings, sessions, alarms, ...) as ``text/event-stream``::

    id: 3f9c-17
    event: connector.status
    data: {"id": "3f9c-17", "kind": "connector.status", "station_id": "FG-0001", "time": "...",
           "data": {...}}

Event ids are ``<stream epoch>-<sequence>``; the epoch changes when the backend restarts. A client
that reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` do this by themselves) receives
the events it missed from a ring buffer of recent events. When they cannot be replayed (the backend
restarted, the id is older than the buffer, or the client fell too far behind) the stream sends a
``resync`` event first: the client must reload its state over REST. Every stream starts with a
``hello`` event ``{epoch, resync}``; a comment line is sent every ``keepalive_s`` so that proxies
keep the connection open.

``GET /api/v1/stations/{id}/readings`` gives the stored readings of a station in a time range (the
charts: zone temperatures, heater duty, power, energy).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, or_, select

from ocpp_backend.api.auth import require_role
from ocpp_backend.bus import Bus, Event, Subscription
from ocpp_backend.models import MeterValue
from ocpp_backend.services import Services
from ocpp_backend.services.meter_data import HEATER_ZONE_SEP
from ocpp_backend.services.registry import UnknownStation
from ocpp_backend.timeutil import utc_now

RING_EVENTS = 2000  # recent events kept for clients that reconnect with Last-Event-ID
CLIENT_QUEUE = 1000  # events a slow client may lag behind before it is told to resync
MAX_READINGS = 50_000  # rows one readings request returns at most


def _measurand_filter(names: list[str]) -> ColumnElement[bool]:
    """Readings whose measurand is one of ``names`` or ``<name>:<zone>`` (the per-zone heater
    readings, docs/interfaces.md §1.6)."""

    def family(name: str) -> ColumnElement[bool]:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return MeterValue.measurand.like(f"{escaped}{HEATER_ZONE_SEP}%", escape="\\")

    return or_(MeterValue.measurand.in_(names), *(family(name) for name in names))


class StreamEvent:
    """An event as the stream sends it: a sequence number and its JSON text (made on first use, so
    that events nobody streams cost no serialisation)."""

    __slots__ = ("seq", "epoch", "event", "_text")

    def __init__(self, seq: int, epoch: str, event: Event) -> None:
        self.seq = seq
        self.epoch = epoch
        self.event = event
        self._text: str | None = None

    @property
    def kind(self) -> str:
        """The bus event's kind."""
        return self.event.kind

    @property
    def station_id(self) -> str:
        """The station (or dispatch group) the event is about."""
        return self.event.station_id

    @property
    def text(self) -> str:
        """The ``data:`` line's JSON."""
        if self._text is None:
            body = {
                "id": f"{self.epoch}-{self.seq}",
                "kind": self.event.kind,
                "station_id": self.event.station_id,
                "time": self.event.time,
                "data": self.event.data,
            }
            self._text = json.dumps(to_jsonable_python(body, fallback=str), separators=(",", ":"))
        return self._text


class _Client:
    """One open stream: its filter and its queue (None in the queue means: resync)."""

    def __init__(self, kinds: frozenset[str] | None, station_id: str | None) -> None:
        self.kinds = kinds  # None = every kind
        self.station_id = station_id  # None = every station
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(CLIENT_QUEUE)
        self.lost = False  # True once events were dropped for this client

    def wants(self, event: StreamEvent) -> bool:
        """True if the client's filter admits ``event``."""
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return self.station_id is None or event.station_id == self.station_id

    def offer(self, event: StreamEvent) -> None:
        """Queue ``event``; a client that cannot keep up gets a resync marker instead."""
        if not self.wants(event) or self.lost:
            return
        if self.queue.full():
            self.lost = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)


class EventHub:
    """One bus subscription shared by every stream of this node, plus the ring of recent events.

    The subscription and its pump task start with the first stream (the API runs without a
    lifespan, so there is no start-up hook to do it earlier).
    """

    def __init__(self, bus: Bus, ring_size: int = RING_EVENTS) -> None:
        self._bus = bus
        self.epoch = secrets.token_hex(4)  # new on every start: ids of another run are not ours
        self._seq = 0
        self._ring: deque[StreamEvent] = deque(maxlen=ring_size)
        self._clients: set[_Client] = set()
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None

    def _ensure_started(self) -> None:
        if self._pump is None or self._pump.done():
            self._subscription = self._bus.subscribe(max_queue=10_000)
            self._pump = asyncio.get_running_loop().create_task(self._run(self._subscription), name="sse-hub")

    async def _run(self, subscription: Subscription) -> None:
        try:
            async for event in subscription:
                self.add(event)
        finally:
            subscription.close()

    def add(self, event: Event) -> StreamEvent:
        """Number ``event``, keep it in the ring and hand it to every open stream."""
        self._seq += 1
        item = StreamEvent(self._seq, self.epoch, event)
        self._ring.append(item)
        for client in list(self._clients):
            client.offer(item)
        return item

    def replay_from(self, last_event_id: str | None) -> list[StreamEvent] | None:
        """Events after ``last_event_id`` still in the ring; None when they cannot all be replayed."""
        if not last_event_id:
            return None
        epoch, _, seq_text = last_event_id.rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self._seq:
            return None
        oldest = self._ring[0].seq if self._ring else self._seq + 1
        if seq + 1 < oldest:
            return None  # some of the missed events have left the ring
        return [item for item in self._ring if item.seq > seq]

    def open(self, kinds: frozenset[str] | None, station_id: str | None) -> _Client:
        """Register a stream (starting the hub if needed)."""
        self._ensure_started()
        client = _Client(kinds, station_id)
        self._clients.add(client)
        return client

    def close(self, client: _Client) -> None:
        """Forget a stream."""
        self._clients.discard(client)

    @property
    def open_streams(self) -> int:
        """How many streams are open now."""
        return len(self._clients)


def _frame(event: str, data: str, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


async def _stream(
    hub: EventHub,
    client: _Client,
    backlog: list[StreamEvent] | None,
    resumed: bool,
    request: Request,
    keepalive_s: float,
) -> AsyncIterator[str]:
    try:
        hello = {"epoch": hub.epoch, "resync": not resumed, "retry_ms": 2000}
        yield "retry: 2000\n" + _frame("hello", json.dumps(hello))
        if not resumed:
            yield _frame("resync", "{}")
        for item in backlog or []:
            if client.wants(item):
                yield _frame(item.kind, item.text, f"{hub.epoch}-{item.seq}")
        while True:
            try:
                item = await asyncio.wait_for(client.queue.get(), keepalive_s)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if item is None:
                client.lost = False
                yield _frame("resync", "{}")
                continue
            yield _frame(item.kind, item.text, f"{hub.epoch}-{item.seq}")
    finally:
        hub.close(client)


class ReadingPoint(BaseModel):
    """One stored reading, as the charts plot it."""

    timestamp: datetime
    connector_id: int
    transaction_id: int | None = None
    measurand: str
    phase: str | None = None
    location: str
    unit: str
    value: float


def events_router(
    services: Services, keepalive_s: float = 15.0, now: Callable[[], datetime] = utc_now
) -> APIRouter:
    """The routes of this module (role viewer and up, like every read of the API)."""
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_role("viewer"))])
    hub = EventHub(services.bus)

    @router.get(
        "/events",
        tags=["events"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    async def events(
        request: Request,
        kinds: str | None = Query(
            default=None, description="comma-separated event kinds (e.g. connector.status,alarm.raised)"
        ),
        station_id: str | None = Query(default=None, description="only this station's events"),
    ) -> StreamingResponse:
        """Live events from the bus as Server-Sent Events (see the module description for the format).

        Reconnect with ``Last-Event-ID`` to receive the events missed meanwhile, or a ``resync``.
        """
        wanted = frozenset(k.strip() for k in kinds.split(",") if k.strip()) if kinds else None
        client = hub.open(wanted or None, station_id or None)
        backlog = hub.replay_from(request.headers.get("last-event-id"))
        return StreamingResponse(
            _stream(hub, client, backlog, backlog is not None, request, keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/stations/{station_id}/readings",
        response_model=list[ReadingPoint],
        tags=["stations"],
        responses={404: {"description": "Unknown station"}},
    )
    async def station_readings(
        station_id: str,
        since: datetime | None = Query(default=None, description="from (default: 24 h before `until`)"),
        until: datetime | None = Query(default=None, description="to (default: now)"),
        measurand: list[str] | None = Query(
            default=None,
            description="only these measurands; a name also matches its per-zone readings "
            "`<name>:<zone>` (e.g. `Frostgrid.Heater.Duty`)",
        ),
        limit: int = Query(default=20_000, ge=1, le=MAX_READINGS),
    ) -> list[ReadingPoint]:
        """Stored readings of a station between ``since`` and ``until``, oldest first (at most
        ``limit``: the newest ones when there are more)."""
        try:
            await services.registry.get(station_id)
        except UnknownStation:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered"
            ) from None
        end = until or now()
        start = since or end - timedelta(hours=24)
        if start > end:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`since` is after `until`")
        await services.meter_data.writer.flush()  # readings still in the batch writer count too
        query = (
            select(MeterValue)
            .where(
                MeterValue.station_id == station_id,
                MeterValue.timestamp >= start,
                MeterValue.timestamp <= end,
            )
            .order_by(MeterValue.timestamp.desc(), MeterValue.id.desc())
            .limit(limit)
        )
        if measurand:
            query = query.where(_measurand_filter(measurand))
        async with services.db.session() as session:
            rows = list(await session.scalars(query))
        rows.reverse()
        return [ReadingPoint.model_validate(row, from_attributes=True) for row in rows]

    return router
