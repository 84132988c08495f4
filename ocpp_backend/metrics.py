"""Prometheus metrics of one backend node, served at ``GET /metrics``.

Every backend gets its own ``CollectorRegistry`` (not the library's global one), so that several
backends in one process (tests, benchmarks) count separately.

| metric | type | labels |
|---|---|---|
| ``frostgrid_stations_connected`` | gauge | — (sockets held by this node) |
| ``frostgrid_ocpp_messages_total`` | counter | ``action``, ``direction`` (``in``: from stations, ``out``) |
| ``frostgrid_ocpp_handler_seconds`` | histogram | ``action`` (time to answer a CALL from a station) |
| ``frostgrid_command_rtt_seconds`` | histogram | ``action``, ``outcome`` (answered, error, timeout, offline)|
| ``frostgrid_alarms_open`` | gauge | ``kind`` |
| ``frostgrid_db_write_seconds`` | histogram | ``statement`` (``insert``, ``update``, ``delete``) |

Messages per second by action is ``rate(frostgrid_ocpp_messages_total[1m])``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus version scrapes

# OCPP handlers and commands are answered in milliseconds to seconds; a station over a poor cellular
# link can take tens of seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_WRITE_VERBS = ("insert", "update", "delete")
_TIMER_KEY = "frostgrid_write_started"


class Metrics:
    """The metrics of one node; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stations_connected = Gauge(
            "frostgrid_stations_connected",
            "Stations whose WebSocket this node holds.",
            registry=self.registry,
        )
        self.messages = Counter(
            "frostgrid_ocpp_messages",
            "OCPP CALLs by action and direction (in: station to backend, out: backend to station).",
            ["action", "direction"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "frostgrid_ocpp_handler_seconds",
            "Time to handle a CALL from a station, until its answer is sent.",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.command_rtt_seconds = Histogram(
            "frostgrid_command_rtt_seconds",
            "Round trip of a command to a station: CALL sent to answer (or failure).",
            ["action", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alarms_open = Gauge(
            "frostgrid_alarms_open", "Open alarms by kind.", ["kind"], registry=self.registry
        )
        self.db_write_seconds = Histogram(
            "frostgrid_db_write_seconds",
            "Duration of database write statements (sent to answered, commit not included).",
            ["statement"],
            buckets=_DB_BUCKETS,
            registry=self.registry,
        )

    @contextlib.contextmanager
    def command_timer(self, action: str) -> Iterator[None]:
        """Count an outgoing CALL and time its round trip; the outcome label comes from how the
        block ends: normally ``answered``; cancelled or timed out ``timeout``; StationOffline
        ``offline``; any other exception (a CALLERROR, a bad answer) ``error``."""
        self.messages.labels(action, "out").inc()
        started = time.perf_counter()
        outcome = "answered"
        try:
            yield
        except (asyncio.CancelledError, TimeoutError):
            outcome = "timeout"
            raise
        except Exception as error:
            outcome = "offline" if type(error).__name__ == "StationOffline" else "error"
            raise
        finally:
            self.command_rtt_seconds.labels(action, outcome).observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def handler_timer(self, action: str) -> Iterator[None]:
        """Count an incoming CALL and time its handling."""
        self.messages.labels(action, "in").inc()
        started = time.perf_counter()
        try:
            yield
        finally:
            self.handler_seconds.labels(action).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def count_connections(self, source: Callable[[], int]) -> None:
        """Read the connected-stations gauge from ``source`` at each scrape."""
        self.stations_connected.set_function(lambda: float(source()))

    def watch_engine(self, engine: AsyncEngine) -> None:
        """Time every INSERT, UPDATE and DELETE that ``engine`` runs into ``db_write_seconds``."""
        sync_engine = engine.sync_engine

        def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            verb = statement.lstrip()[:6].lower()
            if verb in _WRITE_VERBS:
                conn.info.setdefault(_TIMER_KEY, []).append((verb, time.perf_counter()))

        def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            verb = statement.lstrip()[:6].lower()
            started = conn.info.get(_TIMER_KEY)
            if verb in _WRITE_VERBS and started:
                label, t0 = started.pop()
                self.db_write_seconds.labels(label).observe(time.perf_counter() - t0)

        def failed(context: Any) -> None:
            # A failed write never reaches "after": drop its timer so that the stack stays paired.
            conn = getattr(context, "connection", None)
            if conn is not None and conn.info.get(_TIMER_KEY):
                conn.info[_TIMER_KEY].pop()

        event.listen(sync_engine, "before_cursor_execute", before)
        event.listen(sync_engine, "after_cursor_execute", after)
        event.listen(sync_engine, "handle_error", failed)
