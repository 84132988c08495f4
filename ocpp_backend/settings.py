"""Runtime settings of the backend (one immutable object, passed to whoever needs it)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

DEFAULT_DB_URL = "sqlite+aiosqlite:///./frostgrid.db"


def default_db_url() -> str:
    """The database URL used when none is given: env ``FROSTGRID_DB`` or a SQLite file in the cwd."""
    return os.environ.get("FROSTGRID_DB") or DEFAULT_DB_URL


def _env(name: str) -> str | None:
    """An environment variable, None when unset or empty."""
    return os.environ.get(name) or None


def _env_number(name: str, default: float) -> float:
    """A number from the environment (``default`` when unset); a malformed one is an error."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None


def _env_flag(name: str) -> bool:
    """True when the environment variable is set to 1/true/yes/on."""
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _env_gc_threshold(name: str, default: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Three collector thresholds from the environment; ``default`` keeps CPython's own."""
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    if text == "default":
        return None
    try:
        a, b, c = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{name}={text!r} is not three integers a,b,c (or 'default')") from None
    if min(a, b, c) < 1:
        raise ValueError(f"{name}={text!r}: thresholds must be at least 1")
    return a, b, c


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
    # -- operator access (docs/interfaces.md "Operator API access") --
    admin_user: str = field(default_factory=lambda: _env("FROSTGRID_ADMIN_USER") or "admin")
    admin_password: str | None = field(default_factory=lambda: _env("FROSTGRID_ADMIN_PASSWORD"))
    admin_token: str | None = field(default_factory=lambda: _env("FROSTGRID_ADMIN_TOKEN"))
    session_idle_s: float = 12 * 3600  # a login session ends after this long unused...
    session_max_s: float = 7 * 86400  # ...or this long after the login, whichever comes first
    secure_cookies: bool = field(default_factory=lambda: _env_flag("FROSTGRID_SECURE_COOKIES"))  # behind TLS
    metrics_public: bool = field(default_factory=lambda: _env_flag("FROSTGRID_METRICS_PUBLIC"))
    # -- alarms (ocpp_backend/services/alarms.py); env FROSTGRID_ALARM_<NAME> sets the default --
    # offline alarm after this many heartbeat intervals without a connection
    alarm_offline_heartbeats: float = field(
        default_factory=lambda: _env_number("FROSTGRID_ALARM_OFFLINE_HEARTBEATS", 3.0)
    )
    # a cold interlock lasting longer than this raises an alarm
    alarm_cold_interlock_s: float = field(
        default_factory=lambda: _env_number("FROSTGRID_ALARM_COLD_INTERLOCK_S", 1800.0)
    )
    # a station reporting this many unsent journal records or more
    alarm_journal_backlog_records: int = field(
        default_factory=lambda: int(_env_number("FROSTGRID_ALARM_JOURNAL_BACKLOG_RECORDS", 200))
    )
    # more boots than this within the window is a crash loop
    alarm_crash_loop_boots: int = field(
        default_factory=lambda: int(_env_number("FROSTGRID_ALARM_CRASH_LOOP_BOOTS", 3))
    )
    alarm_crash_loop_window_s: float = field(
        default_factory=lambda: _env_number("FROSTGRID_ALARM_CRASH_LOOP_WINDOW_S", 600.0)
    )
    alarm_tick_s: float = 5.0  # how often time-based alarm conditions are evaluated
    # -- the MQTT bus between processes (ocpp_backend/bus_mqtt.py, FROSTGRID_BUS_URL; docs/v2g.md §3) --
    # TLS to the broker (also on with an mqtts:// URL): its CA file (default: the system's CAs)...
    bus_tls_ca_file: str | None = field(default_factory=lambda: _env("FROSTGRID_BUS_TLS_CA"))
    # ...and a client certificate with its key, for a broker that requires one
    bus_tls_cert_file: str | None = field(default_factory=lambda: _env("FROSTGRID_BUS_TLS_CERT"))
    bus_tls_key_file: str | None = field(default_factory=lambda: _env("FROSTGRID_BUS_TLS_KEY"))
    # events kept while the broker is unreachable (then the oldest droppable ones go first)
    bus_buffer_events: int = field(
        default_factory=lambda: int(_env_number("FROSTGRID_BUS_BUFFER_EVENTS", 10000))
    )
    # reconnection back-off doubles from 0.5 s up to this
    bus_reconnect_max_s: float = field(
        default_factory=lambda: _env_number("FROSTGRID_BUS_RECONNECT_MAX_S", 30.0)
    )
    # how long the broker keeps a disconnected node's session (and the events for it)
    bus_session_expiry_s: int = field(
        default_factory=lambda: int(_env_number("FROSTGRID_BUS_SESSION_EXPIRY_S", 300))
    )
    # this backend node's name, stored with the stations it holds (several nodes on one database);
    # keep it stable across restarts of the node. Default: host name and OCPP port (unique per
    # process when the port is picked at random).
    node_id: str | None = field(default_factory=lambda: _env("FROSTGRID_NODE_ID"))
    # -- V2G dispatch (ocpp_backend/dispatch/service.py; docs/v2g.md) --
    # an allocation round at least this often (and on every plug-in, plug-out, refusal, outage)
    dispatch_step_s: float = field(default_factory=lambda: _env_number("FROSTGRID_DISPATCH_STEP_S", 60.0))
    # group telemetry (import/export, flexibility) published this often
    dispatch_telemetry_s: float = field(
        default_factory=lambda: _env_number("FROSTGRID_DISPATCH_TELEMETRY_S", 60.0)
    )
    # -- the garbage collector (backend.py): a fan-out to 10,000 stations keeps ~10^5 objects alive
    # for a second; with CPython's defaults (700, 10, 10) each burst promotes them and sets off full
    # collections of the whole heap (~1 s each with 10,000 connections). Objects that exist after
    # start-up are frozen out of collection, and young collections run less often.
    # FROSTGRID_GC_THRESHOLD="a,b,c" sets the thresholds ("" or "default": CPython's).
    gc_threshold: tuple[int, int, int] | None = field(
        default_factory=lambda: _env_gc_threshold("FROSTGRID_GC_THRESHOLD", (50_000, 20, 100))
    )

    def default_node_id(self) -> str | None:
        """``node_id``, else ``<host>:<OCPP port>``; None when the port is picked at random (the
        registry then makes one up, unique to the process)."""
        if self.node_id:
            return self.node_id
        return f"{socket.gethostname()}:{self.ocpp_port}" if self.ocpp_port else None
