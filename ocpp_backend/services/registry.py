"""Station registry: who may connect, with which password, and what each station last reported."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import selectinload

from ocpp_backend.bus import Bus, Event
from ocpp_backend.db import Database
from ocpp_backend.models import Connector, Station, StatusHistory
from ocpp_backend.passwords import dummy_hash, hash_password, verify_password
from ocpp_backend.timeutil import utc_now

# Charge point identities travel in the URL path and as the Basic-auth user name: no '/', no ':'.
STATION_ID_PATTERN = r"^[A-Za-z0-9._~-]{1,48}$"
_STATION_ID_RE = re.compile(STATION_ID_PATTERN)
MAX_PASSWORD_CHARS = 128


class StationExists(Exception):
    """A station with this id is already registered."""


class UnknownStation(Exception):
    """No station with this id is registered."""


@dataclass(frozen=True)
class BootInfo:
    """What a BootNotification says about the station."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    """What a StatusNotification says about one connector."""

    connector_id: int
    status: str
    error_code: str
    timestamp: datetime
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


def validate_station_id(station_id: str) -> str:
    """Return ``station_id`` if usable as an OCPP identity, else raise ValueError."""
    if not _STATION_ID_RE.match(station_id):
        raise ValueError(f"invalid station id {station_id!r}: use 1-48 characters from A-Z a-z 0-9 . _ ~ -")
    return station_id


def validate_password(password: str) -> str:
    """Return ``password`` if acceptable, else raise ValueError."""
    if not 1 <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"password must be 1-{MAX_PASSWORD_CHARS} characters")
    return password


def validate_location(lat: float | None, lon: float | None) -> None:
    """Raise ValueError unless both coordinates are given (WGS 84 degrees, in range) or neither."""
    if (lat is None) != (lon is None):
        raise ValueError("give both lat and lon, or neither")
    if lat is not None and lon is not None and not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError("lat must be within -90..90 and lon within -180..180 degrees")


class StationRegistry:
    """Registered stations, their credentials, connection state and reported status."""

    def __init__(
        self, db: Database, bus: Bus, last_seen_every_s: float = 60.0, node_id: str | None = None
    ) -> None:
        self._db = db
        self._bus = bus
        # Which backend node holds a station's socket is stored with it: with several nodes, a node
        # that starts, or a socket that closes on one node after the station moved to another,
        # must not mark stations disconnected that another node holds.
        self.node_id = node_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._last_seen_every_s = last_seen_every_s
        self._last_seen_written: dict[str, float] = {}  # station id -> monotonic time of last write
        # A successful scrypt check is remembered as an HMAC of the password under a key that
        # never leaves this process, so that reconnect storms do not cost one scrypt each.
        self._cache_key = os.urandom(32)
        self._verified: dict[str, tuple[str, bytes]] = {}  # station id -> (stored hash, HMAC)

    # -- registration -------------------------------------------------------------------------

    async def add(
        self, station_id: str, password: str, lat: float | None = None, lon: float | None = None
    ) -> Station:
        """Register a station (optionally where it stands, for the map); raises StationExists or
        ValueError."""
        validate_station_id(station_id)
        validate_password(password)
        validate_location(lat, lon)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._db.session() as session:
            if await session.get(Station, station_id) is not None:
                raise StationExists(station_id)
            station = Station(
                id=station_id, password_hash=password_hash, connected=False, connectors=[], lat=lat, lon=lon
            )
            session.add(station)
        return station

    async def set_password(self, station_id: str, password: str) -> None:
        """Change a station's password; raises UnknownStation."""
        validate_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._db.session() as session:
            result = await session.execute(
                update(Station).where(Station.id == station_id).values(password_hash=password_hash)
            )
            if result.rowcount == 0:
                raise UnknownStation(station_id)

    async def remove(self, station_id: str) -> None:
        """Unregister a station (its transactions stay); raises UnknownStation. A live connection
        is closed by the OCPP server when it sees the ``station.removed`` event."""
        async with self._db.session() as session:
            result = await session.execute(delete(Station).where(Station.id == station_id))
            if result.rowcount == 0:
                raise UnknownStation(station_id)
        self._verified.pop(station_id, None)
        await self._bus.publish(Event("station.removed", station_id))

    async def list(self) -> list[Station]:
        """Every station with its connectors, ordered by id."""
        async with self._db.session() as session:
            result = await session.scalars(
                select(Station).options(selectinload(Station.connectors)).order_by(Station.id)
            )
            return list(result)

    async def get(self, station_id: str) -> Station:
        """One station with its connectors; raises UnknownStation."""
        async with self._db.session() as session:
            station = await session.get(Station, station_id, options=[selectinload(Station.connectors)])
        if station is None:
            raise UnknownStation(station_id)
        return station

    async def exists(self, station_id: str) -> bool:
        """True if ``station_id`` is registered."""
        async with self._db.session() as session:
            return await session.get(Station, station_id) is not None

    # -- authentication -----------------------------------------------------------------------

    async def check_password(self, station_id: str, password: str) -> bool:
        """True if ``station_id`` is registered and ``password`` is its password."""
        async with self._db.session() as session:
            stored = await session.scalar(select(Station.password_hash).where(Station.id == station_id))
        mac = hmac.new(self._cache_key, password.encode("utf-8"), hashlib.sha256).digest()
        if stored is not None:
            cached = self._verified.get(station_id)
            if cached is not None and cached[0] == stored and hmac.compare_digest(cached[1], mac):
                return True
        ok = await asyncio.to_thread(verify_password, password, stored or dummy_hash())
        ok = ok and stored is not None
        if ok:
            self._verified[station_id] = (stored, mac)
        return ok

    # -- connection state ---------------------------------------------------------------------

    async def reset_connections(self, single_node: bool = True) -> None:
        """At start-up: no socket survives a restart. A single node marks every station
        disconnected; one of several marks only those it held itself (same ``node_id``, which
        should then be stable across restarts: ``FROSTGRID_NODE_ID``) or that no node claims."""
        stale = Station.connected.is_(True)
        if not single_node:
            stale = stale & ((Station.connected_node == self.node_id) | Station.connected_node.is_(None))
        async with self._db.session() as session:
            await session.execute(update(Station).where(stale).values(connected=False, connected_node=None))

    async def mark_connected(self, station_id: str) -> None:
        """The station has an open, authenticated connection."""
        now = utc_now()
        async with self._db.session() as session:
            await session.execute(
                update(Station)
                .where(Station.id == station_id)
                .values(connected=True, connected_node=self.node_id, last_seen=now)
            )
        self._last_seen_written[station_id] = time.monotonic()
        await self._bus.publish(Event("station.connected", station_id, time=now))

    async def mark_disconnected(self, station_id: str) -> None:
        """The station's connection on this node is gone. Nothing changes when the station is
        held by another node by now (it reconnected there before this socket closed)."""
        now = utc_now()
        async with self._db.session() as session:
            result = await session.execute(
                update(Station)
                .where(
                    Station.id == station_id,
                    (Station.connected_node == self.node_id) | Station.connected_node.is_(None),
                )
                .values(connected=False, connected_node=None, last_seen=now)
            )
        self._last_seen_written.pop(station_id, None)
        if result.rowcount == 0 and await self._held_elsewhere(station_id):
            return
        await self._bus.publish(Event("station.disconnected", station_id, time=now))

    async def _held_elsewhere(self, station_id: str) -> bool:
        async with self._db.session() as session:
            node = await session.scalar(select(Station.connected_node).where(Station.id == station_id))
        return node is not None and node != self.node_id

    async def touch(self, station_id: str) -> None:
        """A message arrived from the station: update last_seen (written at most every few seconds)."""
        now_mono = time.monotonic()
        if now_mono - self._last_seen_written.get(station_id, -1e9) < self._last_seen_every_s:
            return
        self._last_seen_written[station_id] = now_mono
        async with self._db.session() as session:
            await session.execute(update(Station).where(Station.id == station_id).values(last_seen=utc_now()))

    # -- what stations report -----------------------------------------------------------------

    async def record_boot(self, station_id: str, boot: BootInfo) -> str:
        """Store a BootNotification; returns the registration status to answer.

        Only registered, authenticated stations reach this point, so the answer is ``Accepted``.
        """
        status = "Accepted"
        now = utc_now()
        async with self._db.session() as session:
            await session.execute(
                update(Station)
                .where(Station.id == station_id)
                .values(
                    vendor=boot.vendor,
                    model=boot.model,
                    serial_number=boot.serial_number,
                    firmware_version=boot.firmware_version,
                    boot_status=status,
                    last_boot_at=now,
                    last_seen=now,
                )
            )
        await self._bus.publish(
            Event(
                "station.boot",
                station_id,
                {
                    "vendor": boot.vendor,
                    "model": boot.model,
                    "serial_number": boot.serial_number,
                    "firmware_version": boot.firmware_version,
                },
                time=now,
            )
        )
        return status

    async def record_status(self, station_id: str, report: ConnectorStatus) -> None:
        """Store a StatusNotification as the connector's current status and in the history."""
        now = utc_now()
        async with self._db.session() as session:
            connector = await session.get(Connector, (station_id, report.connector_id))
            if connector is None:
                connector = Connector(station_id=station_id, connector_id=report.connector_id)
                session.add(connector)
            connector.status = report.status
            connector.error_code = report.error_code
            connector.info = report.info
            connector.vendor_id = report.vendor_id
            connector.vendor_error_code = report.vendor_error_code
            connector.updated_at = report.timestamp
            session.add(
                StatusHistory(
                    station_id=station_id,
                    connector_id=report.connector_id,
                    status=report.status,
                    error_code=report.error_code,
                    info=report.info,
                    vendor_error_code=report.vendor_error_code,
                    timestamp=report.timestamp,
                    received_at=now,
                )
            )
        await self._bus.publish(
            Event(
                "connector.status",
                station_id,
                {
                    "connector_id": report.connector_id,
                    "status": report.status,
                    "error_code": report.error_code,
                    "info": report.info,
                    "vendor_id": report.vendor_id,
                    "vendor_error_code": report.vendor_error_code,
                },
                time=now,
            )
        )

    async def status_history(self, station_id: str, limit: int = 100) -> list[StatusHistory]:
        """The latest ``limit`` status reports of a station, newest first."""
        async with self._db.session() as session:
            result = await session.scalars(
                select(StatusHistory)
                .where(StatusHistory.station_id == station_id)
                .order_by(StatusHistory.id.desc())
                .limit(limit)
            )
            return list(result)
