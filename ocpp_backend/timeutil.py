"""UTC time helpers and the OCPP timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def parse_ocpp_time(text: str) -> datetime:
    """Parse an OCPP ``dateTime`` (RFC 3339) into aware UTC; a missing offset means UTC.

    Raises ValueError when ``text`` is not a date-time.
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_ocpp_time(value: datetime) -> str:
    """Format an aware datetime the way OCPP messages carry it: ``2024-01-31T12:00:00.000Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
