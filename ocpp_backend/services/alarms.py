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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
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
    """Open an alarm."""

    station_id: str
    kind: str
    connector_id: int
    message: str

    @property
    def key(self) -> Key:
        return (self.station_id, self.kind, self.connector_id)


@dataclass(frozen=True)
class Clear:
    """Close an open alarm."""

    station_id: str
    kind: str
    connector_id: int
    reason: str

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

    def remember_boot(self, station_id: str, at: datetime) -> None:
        """A boot from before a restart (keeps an open crash-loop alarm until a quiet window)."""
        self.boots.setdefault(station_id, deque()).append(at)

    def _raise(self, out: list[Decision], station: str, kind: str, connector: int, message: str) -> None:
        if (station, kind, connector) not in self.open:
            self.open.add((station, kind, connector))
            out.append(Raise(station, kind, connector, message))

    def _clear(self, out: list[Decision], station: str, kind: str, connector: int, reason: str) -> None:
        if (station, kind, connector) in self.open:
            self.open.discard((station, kind, connector))
            out.append(Clear(station, kind, connector, reason))

    def on_event(self, event: Event) -> list[Decision]:
        """Decisions caused by one bus event (its ``time`` is when it happened)."""
        out: list[Decision] = []
        station, data, now = event.station_id, event.data, event.time
        if event.kind == "station.connected":
            self.offline_since.pop(station, None)
            self._clear(out, station, "offline", STATION, "connected")
        elif event.kind == "station.disconnected":
            self.offline_since[station] = now
        elif event.kind == "station.removed":
            for key in sorted(k for k in self.open if k[0] == station):
                self._clear(out, *key, "station removed")
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
                self._raise(out, station, "crash_loop", STATION, f"{len(boots)} boots within {window_s:g} s")
        elif event.kind == "connector.status":
            self._on_status(out, station, data, now)
        elif event.kind == "station.notification":
            count = journal_backlog(data)
            if count is not None:
                if count >= self.t.backlog_records:
                    self._raise(out, station, "journal_backlog", STATION, f"{count} journal records unsent")
                else:
                    self._clear(out, station, "journal_backlog", STATION, f"backlog down to {count}")
        return out

    def _on_status(self, out: list[Decision], station: str, data: dict[str, Any], now: datetime) -> None:
        connector = int(data.get("connector_id", 0))
        codes = vendor_codes(data)
        info = data.get("info") or ""
        for code, kind in _IMMEDIATE.items():
            if code in codes:
                self._raise(out, station, kind, connector, f"{code} {info}".strip())
            else:
                self._clear(out, station, kind, connector, f"{code} no longer reported")
        if _COLD_CODE in codes:
            self.cold_since.setdefault((station, connector), now)
        else:
            self.cold_since.pop((station, connector), None)
            self._clear(out, station, "cold_interlock_long", connector, "cold interlock released")

    def tick(self, now: datetime) -> list[Decision]:
        """Decisions that only the passing of time causes."""
        out: list[Decision] = []
        for station, since in sorted(self.offline_since.items()):
            if now - since >= self.t.offline_after:
                self._raise(out, station, "offline", STATION, f"no connection since {since.isoformat()}")
        for (station, connector), since in sorted(self.cold_since.items()):
            if now - since >= self.t.cold_after:
                message = f"cold interlock since {since.isoformat()}"
                self._raise(out, station, "cold_interlock_long", connector, message)
        for boots in self.boots.values():
            while boots and now - boots[0] > self.t.crash_window:
                boots.popleft()
        for station, kind, connector in sorted(self.open):
            if kind == "crash_loop" and not self.boots.get(station):
                self._clear(out, station, kind, connector, "no reboot for a whole window")
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
        self._subscription = self._bus.subscribe(EVENT_KINDS, max_queue=10_000)
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
                if event is not None:
                    await self.apply(self.rules.on_event(event))
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self.tick_s
                    await self.apply(self.rules.tick(utc_now()))
            except Exception:  # noqa: BLE001 - one failed write must not stop alarm handling
                LOG.exception("alarm evaluation failed")

    async def evaluate_now(self) -> None:
        """Apply the time-based rules at once (tests, and the API after a threshold change)."""
        await self.apply(self.rules.tick(utc_now()))

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
            raised_at=utc_now(),
        )
        try:
            async with self._db.session() as session:
                session.add(alarm)
        except IntegrityError:
            return  # already open (raised by another node, or before a restart)
        LOG.warning(
            "%s: alarm raised: %s %s (%s)",
            decision.station_id,
            decision.kind,
            decision.message,
            alarm.severity,
            extra={"station_id": decision.station_id},
        )
        self._metrics.alarms_open.labels(decision.kind).inc()
        await self._bus.publish(Event("alarm.raised", decision.station_id, alarm_data(alarm)))

    async def _store_clear(self, decision: Clear) -> None:
        now = utc_now()
        async with self._db.session() as session:
            alarm = await session.scalar(
                select(Alarm).where(
                    Alarm.station_id == decision.station_id,
                    Alarm.kind == decision.kind,
                    Alarm.connector_id == decision.connector_id,
                    Alarm.cleared_at.is_(None),
                )
            )
            if alarm is None:
                return  # cleared already (another node)
            alarm.cleared_at, alarm.clear_reason = now, decision.reason[:200]
        LOG.info(
            "%s: alarm cleared: %s (%s)",
            decision.station_id,
            decision.kind,
            decision.reason,
            extra={"station_id": decision.station_id},
        )
        self._metrics.alarms_open.labels(decision.kind).dec()
        await self._bus.publish(Event("alarm.cleared", decision.station_id, alarm_data(alarm)))

    async def _refresh_gauge(self) -> None:
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
