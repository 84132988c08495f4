"""Log set-up of the backend: plain text or one JSON object per line, with the station id.

The station a piece of work is about is held in a context variable (``station_context``); the OCPP
server sets it in each connection's task, so that every line logged while handling that station —
by our code, the ``ocpp`` library or ``websockets`` — carries ``station_id`` without each call
passing it. A call may also pass ``extra={"station_id": ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

current_station: ContextVar[str | None] = ContextVar("frostgrid_station_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged too.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName"}
)


@contextlib.contextmanager
def station_context(station_id: str) -> Iterator[None]:
    """Log lines emitted inside carry ``station_id`` (and so do tasks created inside)."""
    token = current_station.set(station_id)
    try:
        yield
    finally:
        current_station.reset(token)


class StationFilter(logging.Filter):
    """Adds ``station_id`` (None when no station is in context) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "station_id", None) is None:
            record.station_id = current_station.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``,
    ``station_id`` when about a station, ``exc`` with a traceback, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        station_id = getattr(record, "station_id", None)
        if station_id is not None:
            line["station_id"] = station_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in line and key != "station_id":
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def json_logs_from_env() -> bool:
    """True when ``FROSTGRID_LOG_JSON`` asks for JSON logs."""
    return (os.environ.get("FROSTGRID_LOG_JSON") or "").strip().lower() in ("1", "true", "yes", "on")


def configure_logging(level: int = logging.WARNING, json_lines: bool = False) -> None:
    """Log to stderr at ``level``, as text or JSON lines, with ``station_id`` on station lines.

    Replaces the root logger's handlers (safe to call twice). The ``ocpp`` library logs every
    frame at INFO, so it is held at WARNING unless DEBUG is asked for.
    """
    handler = logging.StreamHandler()
    handler.addFilter(StationFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("ocpp").setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
