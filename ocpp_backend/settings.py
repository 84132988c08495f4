"""Runtime settings of the backend (one immutable object, passed to whoever needs it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB_URL = "sqlite+aiosqlite:///./frostgrid.db"


def default_db_url() -> str:
    """The database URL used when none is given: env ``FROSTGRID_DB`` or a SQLite file in the cwd."""
    return os.environ.get("FROSTGRID_DB") or DEFAULT_DB_URL


@dataclass(frozen=True)
class Settings:
    """Everything the backend can be tuned with; defaults suit one node serving a city."""

    db_url: str = field(default_factory=default_db_url)
    host: str = "127.0.0.1"
    ocpp_port: int = 9000  # 0 picks a free port
    http_port: int | None = 8080  # None runs no HTTP API (tests of the OCPP side alone)
    heartbeat_s: int = 300  # interval returned in BootNotification
    command_timeout_s: float = 30.0  # how long a REST command waits for the station's answer
    accept_unknown_tags: bool = False  # unknown idTags are Invalid unless this is set
    known_vendors: frozenset[str] = frozenset()  # DataTransfer vendorIds we answer Accepted
    meter_batch_rows: int = 500  # meter batch writer flushes at this many rows...
    meter_batch_ms: int = 20  # ...or this long after the first pending row
    last_seen_every_s: float = 60.0  # last_seen is written at most this often per station
    ws_ping_interval_s: float | None = 30.0  # WebSocket keep-alive pings (None: off)
    ws_ping_timeout_s: float | None = 30.0
    ws_max_frame_bytes: int = 65536
