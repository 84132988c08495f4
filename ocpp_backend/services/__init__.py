"""Domain services: the rules of the backend, shared by the OCPP handlers, the REST API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from ocpp_backend.bus import Bus
from ocpp_backend.db import Database
from ocpp_backend.metrics import Metrics
from ocpp_backend.services.alarms import AlarmService
from ocpp_backend.services.commands import CommandService
from ocpp_backend.services.id_tokens import IdTokenService
from ocpp_backend.services.meter_data import MeterBatchWriter, MeterDataService
from ocpp_backend.services.registry import StationRegistry
from ocpp_backend.services.sessions import SessionService
from ocpp_backend.settings import Settings
from ocpp_backend.users import AccessService


@dataclass
class Services:
    """The services of one backend, wired to one database and one bus."""

    settings: Settings
    db: Database
    bus: Bus
    registry: StationRegistry
    id_tokens: IdTokenService
    meter_data: MeterDataService
    sessions: SessionService
    commands: CommandService
    access: AccessService
    metrics: Metrics
    alarms: AlarmService

    @classmethod
    def build(cls, settings: Settings, db: Database, bus: Bus) -> Services:
        """Wire every service to ``db`` and ``bus``."""
        writer = MeterBatchWriter(
            db, max_rows=settings.meter_batch_rows, max_delay_ms=settings.meter_batch_ms
        )
        registry = StationRegistry(
            db, bus, last_seen_every_s=settings.last_seen_every_s, node_id=settings.default_node_id()
        )
        id_tokens = IdTokenService(db, accept_unknown=settings.accept_unknown_tags)
        meter_data = MeterDataService(db, bus, writer)
        sessions = SessionService(db, bus, meter_data)
        commands = CommandService(bus, registry, timeout_s=settings.command_timeout_s)
        access = AccessService(db, settings.session_idle_s, settings.session_max_s)
        metrics = Metrics()
        alarms = AlarmService(db, bus, settings, metrics)
        return cls(
            settings, db, bus, registry, id_tokens, meter_data, sessions, commands, access, metrics, alarms
        )

    async def start(self) -> None:
        """Start background work (the meter batch writer, the alarm rules)."""
        await self.meter_data.writer.start()
        await self.alarms.start()

    async def stop(self) -> None:
        """Flush pending meter values and stop background work."""
        await self.alarms.stop()
        await self.meter_data.writer.stop()


__all__ = [
    "CommandService",
    "IdTokenService",
    "MeterBatchWriter",
    "MeterDataService",
    "Services",
    "SessionService",
    "StationRegistry",
]
