"""Alarms: rules that turn station events into raised and cleared alarms, and their history.

``AlarmRules`` is the pure core: bus events and clock ticks in (time is an argument), ``Raise`` and
``Clear`` decisions out. ``AlarmService`` is the shell: it feeds the rules from the bus, stores
alarms, publishes ``alarm.raised`` / ``alarm.cleared`` / ``alarm.acked`` events and keeps the
``frostgrid_alarms_open`` gauge.

Kinds (severity): raised when → cleared when. Thresholds are ``Settings.alarm_*``.

- ``offline`` (major): no connection for ``alarm_offline_heartbeats`` heartbeat intervals → the
  station connects.
- ``cold_interlock_long`` (minor): a connector reports ``FG_COLD`` for longer than
  ``alarm_cold_interlock_s`` → a report of that connector without ``FG_COLD``.
- ``heater_fault`` (major) ``FG_HEATER``, ``sensor_fault`` (major) ``FG_SENSOR``,
  ``over_temperature`` (critical) ``FG_OVERTEMP``, ``meter_fault`` (major) ``FG_METER``: as soon as
  a connector reports the code → a report of that connector without it.
- ``journal_backlog`` (minor): DataTransfer vendorId ``Frostgrid``, messageId ``Journal``, data
  ``{"n": <records waiting>}`` with ``n`` ≥ ``alarm_journal_backlog_records`` → a report below it.
- ``crash_loop`` (major): more than ``alarm_crash_loop_boots`` BootNotifications within
  ``alarm_crash_loop_window_s`` → a whole window without a boot.

Vendor codes count when the StatusNotification's ``vendorId`` is ``Frostgrid`` (docs/interfaces.md
§1.6). Alarms about the station as a whole have ``connector_id`` -1. Removing a station clears its
alarms.

Several nodes (one database, one MQTT bus): every node runs the rules over the same events, so
every node decides the same raises and clears, each when it hears of the event. The database keeps
one open alarm per (station, kind, connector) (the partial unique index ``uq_alarms_open``) and one
alarm per occurrence (``uq_alarms_occurrence``: ``raised_at`` is the time of the event that raised
it, or the moment a time threshold was crossed, the same on every node): the first node's raise is
stored and published, the others' are no-ops even when the first node has already cleared it, and
a clear closes the open alarm raised before the clearing event, whichever node raised it.
Two things are read from the database rather than from a node's own view: the
``frostgrid_alarms_open`` gauge (counted after every change, including other nodes' changes heard
on the bus), and, before an ``offline`` alarm is raised, when the station was last heard from (a
node started while the station is connected to another node counts it as absent; its heartbeats,
written to ``last_seen`` by the node holding it, say otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ocpp_backend.bus import Bus, Event, Subscription
from ocpp_backend.db import Database
from ocpp_backend.metrics import Metrics
from ocpp_backend.models import Station
from ocpp_backend.operator_models import Alarm
from ocpp_backend.settings import Settings
from ocpp_backend.timeutil import utc_now

LOG = logging.getLogger(__name__)

FROSTGRID_VENDOR = "Frostgrid"
JOURNAL_MESSAGE_ID = "Journal"  # DataTransfer data: {"n": <journal records waiting to be sent>}
STATION = -1  # connector_id of alarms about the whole station

SEVERITY = {
    "offline": "major",
    "cold_interlock_long": "minor",
    "heater_fault": "major",
    "sensor_fault": "major",
    "over_temperature": "critical",
    "meter_fault": "major",
    "journal_backlog": "minor",
    "crash_loop": "major",
}
KINDS = tuple(SEVERITY)
# Vendor codes raised as soon as they are reported (FG_COLD waits for its threshold).
_IMMEDIATE = {
    "FG_HEATER": "heater_fault",
    "FG_SENSOR": "sensor_fault",
    "FG_OVERTEMP": "over_temperature",
    "FG_METER": "meter_fault",
}
_COLD_CODE = "FG_COLD"
EVENT_KINDS = (
    "station.connected",
    "station.disconnected",
    "station.removed",
    "station.boot",
    "connector.status",
    "station.notification",
)
# Alarm changes, this node's or another's: the open-alarm gauge is recounted on each.
CHANGE_KINDS = ("alarm.raised", "alarm.cleared")

Key = tuple[str, str, int]  # (station id, kind, connector id)


@dataclass(frozen=True)
class Thresholds:
    """When conditions become alarms (from Settings)."""

    offline_after: timedelta
    cold_after: timedelta
    backlog_records: int
    crash_boots: int
    crash_window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds configured in ``settings``."""
        return cls(
            offline_after=timedelta(seconds=settings.alarm_offline_heartbeats * settings.heartbeat_s),
            cold_after=timedelta(seconds=settings.alarm_cold_interlock_s),
            backlog_records=settings.alarm_journal_backlog_records,
            crash_boots=settings.alarm_crash_loop_boots,
            crash_window=timedelta(seconds=settings.alarm_crash_loop_window_s),
        )


@dataclass(frozen=True)
class Raise:
    """Open an alarm. ``at``: when the condition became an alarm, from the event times the rules
    were given, so that every node deciding this raise names the same occurrence."""

    station_id: str
    kind: str
    connector_id: int
    message: str
    at: datetime | None = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.station_id, self.kind, self.connector_id)


@dataclass(frozen=True)
class Clear:
    """Close an open alarm. ``at``: when the condition ended; an alarm raised later is another
    occurrence and stays open."""

    station_id: str
    kind: str
    connector_id: int
    reason: str
    at: datetime | None = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.station_id, self.kind, self.connector_id)


Decision = Raise | Clear


def vendor_codes(data: dict[str, Any]) -> set[str]:
    """The Frostgrid codes of a ``connector.status`` event (one code, or several comma-separated)."""
    vendor = data.get("vendor_id")
    code = data.get("vendor_error_code") or ""
    if vendor not in (None, FROSTGRID_VENDOR):
        return set()
    return {part.strip() for part in code.split(",") if part.strip().startswith("FG_")}


def journal_backlog(data: dict[str, Any]) -> int | None:
    """Records waiting in a station's journal, from a Frostgrid ``Journal`` DataTransfer (None if
    the notification is something else or malformed)."""
    if (
        data.get("action") != "DataTransfer"
        or data.get("vendor_id") != FROSTGRID_VENDOR
        or data.get("message_id") != JOURNAL_MESSAGE_ID
    ):
        return None
    try:
        count = json.loads(data.get("data") or "")["n"]
    except (ValueError, TypeError, KeyError):
        return None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None


class AlarmRules:
    """Pure alarm logic: ``on_event`` and ``tick`` return the decisions to apply. The rules assume
    each decision is applied (``open`` is updated as they are returned)."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.t = thresholds
        self.open: set[Key] = set()
        self.offline_since: dict[str, datetime] = {}  # station -> when its connection went away
        self.cold_since: dict[tuple[str, int], datetime] = {}  # (station, connector) -> FG_COLD since
        self.boots: dict[str, deque[datetime]] = {}  # station -> boot times within the window

    def load_open(self, keys: Iterable[Key]) -> None:
        """Alarms already open in the store (at start-up), so that their clear conditions apply."""
        self.open.update(keys)

    def watch_offline(self, station_id: str, since: datetime) -> None:
        """Count ``station_id`` as disconnected since ``since`` (stations absent at start-up)."""
        self.offline_since.setdefault(station_id, since)

    def due_offline(self, now: datetime) -> list[str]:
        """Stations whose offline alarm the next ``tick(now)`` would raise."""
        return sorted(
            station
            for station, since in self.offline_since.items()
            if now - since >= self.t.offline_after and (station, "offline", STATION) not in self.open
        )

    def heard_from(self, station_id: str, at: datetime) -> None:
        """The station was heard from at ``at`` (its ``last_seen``, written by whichever node holds
        its connection): a station counted as absent since before then is not offline yet."""
        since = self.offline_since.get(station_id)
        if since is not None and at > since:
            self.offline_since[station_id] = at

    def remember_boot(self, station_id: str, at: datetime) -> None:
        """A boot from before a restart (keeps an open crash-loop alarm until a quiet window)."""
        self.boots.setdefault(station_id, deque()).append(at)

    def _raise(
        self, out: list[Decision], station: str, kind: str, connector: int, message: str, at: datetime
    ) -> None:
        if (station, kind, connector) not in self.open:
            self.open.add((station, kind, connector))
            out.append(Raise(station, kind, connector, message, at))

    def _clear(
        self, out: list[Decision], station: str, kind: str, connector: int, reason: str, at: datetime
    ) -> None:
        if (station, kind, connector) in self.open:
            self.open.discard((station, kind, connector))
            out.append(Clear(station, kind, connector, reason, at))

    def on_event(self, event: Event) -> list[Decision]:
        """Decisions caused by one bus event (its ``time`` is when it happened)."""
        out: list[Decision] = []
        station, data, now = event.station_id, event.data, event.time
        if event.kind == "station.connected":
            self.offline_since.pop(station, None)
            self._clear(out, station, "offline", STATION, "connected", now)
        elif event.kind == "station.disconnected":
            self.offline_since[station] = now
        elif event.kind == "station.removed":
            for key in sorted(k for k in self.open if k[0] == station):
                self._clear(out, *key, "station removed", now)
            self.offline_since.pop(station, None)
            self.boots.pop(station, None)
            for cold in [k for k in self.cold_since if k[0] == station]:
                del self.cold_since[cold]
        elif event.kind == "station.boot":
            boots = self.boots.setdefault(station, deque())
            boots.append(now)
            while boots and now - boots[0] > self.t.crash_window:
                boots.popleft()
            if len(boots) > self.t.crash_boots:
                window_s = self.t.crash_window.total_seconds()
                message = f"{len(boots)} boots within {window_s:g} s"
                self._raise(out, station, "crash_loop", STATION, message, now)
        elif event.kind == "connector.status":
            self._on_status(out, station, data, now)
        elif event.kind == "station.notification":
            count = journal_backlog(data)
            if count is not None:
                if count >= self.t.backlog_records:
                    message = f"{count} journal records unsent"
                    self._raise(out, station, "journal_backlog", STATION, message, now)
                else:
                    self._clear(out, station, "journal_backlog", STATION, f"backlog down to {count}", now)
        return out

    def _on_status(self, out: list[Decision], station: str, data: dict[str, Any], now: datetime) -> None:
        connector = int(data.get("connector_id", 0))
        codes = vendor_codes(data)
        info = data.get("info") or ""
        for code, kind in _IMMEDIATE.items():
            if code in codes:
                self._raise(out, station, kind, connector, f"{code} {info}".strip(), now)
            else:
                self._clear(out, station, kind, connector, f"{code} no longer reported", now)
        if _COLD_CODE in codes:
            self.cold_since.setdefault((station, connector), now)
        else:
            self.cold_since.pop((station, connector), None)
            self._clear(out, station, "cold_interlock_long", connector, "cold interlock released", now)

    def tick(self, now: datetime) -> list[Decision]:
        """Decisions that only the passing of time causes."""
        out: list[Decision] = []
        for station, since in sorted(self.offline_since.items()):
            if now - since >= self.t.offline_after:
                message = f"no connection since {since.isoformat()}"
                self._raise(out, station, "offline", STATION, message, since + self.t.offline_after)
        for (station, connector), since in sorted(self.cold_since.items()):
            if now - since >= self.t.cold_after:
                message = f"cold interlock since {since.isoformat()}"
                self._raise(
                    out, station, "cold_interlock_long", connector, message, since + self.t.cold_after
                )
        for boots in self.boots.values():
            while boots and now - boots[0] > self.t.crash_window:
                boots.popleft()
        for station, kind, connector in sorted(self.open):
            if kind == "crash_loop" and not self.boots.get(station):
                self._clear(out, station, kind, connector, "no reboot for a whole window", now)
        return out


class UnknownAlarm(Exception):
    """No alarm with this id."""


class AlreadyAcknowledged(Exception):
    """The alarm was acknowledged before."""


def alarm_data(alarm: Alarm) -> dict[str, Any]:
    """An alarm as bus events carry it."""
    return {
        "id": alarm.id,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "connector_id": alarm.connector_id,
        "message": alarm.message,
        "raised_at": alarm.raised_at.isoformat(),
        "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
        "clear_reason": alarm.clear_reason,
        "acked_by": alarm.acked_by,
        "comment": alarm.comment,
    }


class AlarmService:
    """Runs the rules over the bus, stores and publishes alarms, answers the API."""

    def __init__(self, db: Database, bus: Bus, settings: Settings, metrics: Metrics) -> None:
        self._db = db
        self._bus = bus
        self._metrics = metrics
        self.tick_s = settings.alarm_tick_s
        self.rules = AlarmRules(Thresholds.from_settings(settings))
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load open alarms, watch stations that are not connected, start following the bus."""
        if self._task is not None:
            return
        # Subscribe first: an event that arrives while loading is queued, not lost.
        self._subscription = self._bus.subscribe(EVENT_KINDS + CHANGE_KINDS, max_queue=10_000)
        now = utc_now()
        async with self._db.session() as session:
            open_rows = (
                await session.execute(
                    select(Alarm.station_id, Alarm.kind, Alarm.connector_id).where(Alarm.cleared_at.is_(None))
                )
            ).all()
            absent = await session.scalars(
                select(Station.id).where(Station.connected.is_(False), Station.last_seen.is_not(None))
            )
            # A station that never connected is not "offline"; one that was seen before the
            # (re)start counts from now, so that a restart does not raise alarms for every station
            # before it had a chance to reconnect.
            for station_id in absent:
                self.rules.watch_offline(station_id, now)
            looping = [row[0] for row in open_rows if row[1] == "crash_loop"]
            if looping:
                last_boots = await session.execute(
                    select(Station.id, Station.last_boot_at).where(Station.id.in_(looping))
                )
                for station_id, last_boot_at in last_boots:
                    if last_boot_at is not None:
                        self.rules.remember_boot(station_id, last_boot_at)
        self.rules.load_open((row[0], row[1], row[2]) for row in open_rows)
        await self._refresh_gauge()
        self._task = asyncio.create_task(self._run(), name="alarms")

    async def stop(self) -> None:
        """Stop following the bus."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def _run(self) -> None:
        assert self._subscription is not None
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.tick_s
        while True:
            try:
                event = await self._subscription.get(max(0.0, next_tick - loop.time()))
            except TimeoutError:
                event = None
            try:
                if event is not None and event.kind in CHANGE_KINDS:
                    await self._refresh_gauge()  # maybe another node's change
                elif event is not None:
                    await self.apply(self.rules.on_event(event))
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self.tick_s
                    await self.evaluate_now()
            except Exception:  # noqa: BLE001 - one failed write must not stop alarm handling
                LOG.exception("alarm evaluation failed")

    async def evaluate_now(self) -> None:
        """Apply the time-based rules at once (tests, and the API after a threshold change)."""
        now = utc_now()
        due = self.rules.due_offline(now)
        if due:
            async with self._db.session() as session:
                seen = await session.execute(
                    select(Station.id, Station.last_seen).where(
                        Station.id.in_(due), Station.last_seen.is_not(None)
                    )
                )
                for station_id, last_seen in seen:
                    self.rules.heard_from(station_id, last_seen)
        await self.apply(self.rules.tick(now))

    async def apply(self, decisions: list[Decision]) -> None:
        """Store and publish decisions."""
        for decision in decisions:
            if isinstance(decision, Raise):
                await self._store_raise(decision)
            else:
                await self._store_clear(decision)

    async def _store_raise(self, decision: Raise) -> None:
        alarm = Alarm(
            station_id=decision.station_id,
            kind=decision.kind,
            severity=SEVERITY[decision.kind],
            connector_id=decision.connector_id,
            message=decision.message[:2000],
            raised_at=decision.at or utc_now(),
        )
        try:
            async with self._db.session() as session:
                session.add(alarm)
        except IntegrityError:
            # Already open (raised by another node, or before a restart), or this occurrence was
            # raised and even cleared by a node that heard of it first (uq_alarms_occurrence).
            return
        LOG.warning(
            "%s: alarm raised: %s %s (%s)",
            decision.station_id,
            decision.kind,
            decision.message,
            alarm.severity,
            extra={"station_id": decision.station_id},
        )
        await self._refresh_gauge()
        await self._bus.publish(Event("alarm.raised", decision.station_id, alarm_data(alarm)))

    async def _store_clear(self, decision: Clear) -> None:
        now = utc_now()
        async with self._db.session() as session:
            query = select(Alarm).where(
                Alarm.station_id == decision.station_id,
                Alarm.kind == decision.kind,
                Alarm.connector_id == decision.connector_id,
                Alarm.cleared_at.is_(None),
            )
            if decision.at is not None:
                # A node that hears of a clear late must not close a newer occurrence.
                query = query.where(Alarm.raised_at <= decision.at)
            alarm = await session.scalar(query)
            if alarm is None:
                return  # cleared already (another node)
            # Conditional: two nodes clearing at once both find the row open, and only the first
            # update may count (PostgreSQL re-checks the condition after waiting for the row lock).
            result = await session.execute(
                update(Alarm)
                .where(Alarm.id == alarm.id, Alarm.cleared_at.is_(None))
                .values(cleared_at=now, clear_reason=decision.reason[:200])
            )
            if result.rowcount == 0:
                return  # another node cleared it meanwhile: it publishes the clear
            await session.refresh(alarm)
        LOG.info(
            "%s: alarm cleared: %s (%s)",
            decision.station_id,
            decision.kind,
            decision.reason,
            extra={"station_id": decision.station_id},
        )
        await self._refresh_gauge()
        await self._bus.publish(Event("alarm.cleared", decision.station_id, alarm_data(alarm)))

    async def _refresh_gauge(self) -> None:
        # Counted in the database: with several nodes, one node's raise may be another's clear.
        async with self._db.session() as session:
            counts = dict(
                (
                    await session.execute(
                        select(Alarm.kind, func.count())
                        .where(Alarm.cleared_at.is_(None))
                        .group_by(Alarm.kind)
                    )
                ).all()
            )
        for kind in KINDS:
            self._metrics.alarms_open.labels(kind).set(counts.get(kind, 0))

    # -- queries and acknowledgement ------------------------------------------------------------

    async def list(
        self,
        open_: bool | None = None,
        station_id: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alarm], int]:
        """Alarms, newest first, and how many match in all."""
        query = select(Alarm)
        if open_ is True:
            query = query.where(Alarm.cleared_at.is_(None))
        elif open_ is False:
            query = query.where(Alarm.cleared_at.is_not(None))
        if station_id is not None:
            query = query.where(Alarm.station_id == station_id)
        if kind is not None:
            query = query.where(Alarm.kind == kind)
        if severity is not None:
            query = query.where(Alarm.severity == severity)
        async with self._db.session() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(query.order_by(Alarm.id.desc()).limit(limit).offset(offset))
            return list(rows), int(total or 0)

    async def get(self, alarm_id: int) -> Alarm:
        """One alarm; raises UnknownAlarm."""
        async with self._db.session() as session:
            alarm = await session.get(Alarm, alarm_id)
        if alarm is None:
            raise UnknownAlarm(alarm_id)
        return alarm

    async def acknowledge(self, alarm_id: int, by: str, comment: str) -> Alarm:
        """Record who acknowledged an alarm (open or cleared) and why; raises UnknownAlarm or
        AlreadyAcknowledged (the first acknowledgement is kept)."""
        now = utc_now()
        async with self._db.session() as session:
            result = await session.execute(
                update(Alarm)
                .where(Alarm.id == alarm_id, Alarm.acked_at.is_(None))
                .values(acked_at=now, acked_by=by[:64], comment=comment)
            )
            if result.rowcount == 0:
                if await session.get(Alarm, alarm_id) is None:
                    raise UnknownAlarm(alarm_id)
                raise AlreadyAcknowledged(alarm_id)
        alarm = await self.get(alarm_id)
        await self._bus.publish(Event("alarm.acked", alarm.station_id, alarm_data(alarm)))
        return alarm
