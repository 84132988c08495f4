"""ORM tables of the operator side: users, API tokens, login sessions and alarms.

Created by the migration ``0002_operator``. Secrets are never stored: passwords as argon2id hashes,
tokens and session ids as SHA-256 of 32 random bytes (a fast hash suffices for random secrets).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ocpp_backend.models import Base, BigId, UtcDateTime
from ocpp_backend.timeutil import utc_now

ROLES = ("viewer", "operator", "admin", "dispatcher")


class OperatorUser(Base):
    """A person who logs in to the dashboard or the API."""

    __tablename__ = "operator_users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # one of ROLES
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A machine's bearer token; ``revoked_at`` set means it no longer authenticates."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OperatorSession(Base):
    """A logged-in browser session (the cookie holds the secret whose hash is ``id_hash``)."""

    __tablename__ = "operator_sessions"
    __table_args__ = (Index(None, "username"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    username: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Alarm(Base):
    """One alarm from raise to clear, with its acknowledgement.

    At most one open alarm per (station, kind, connector): a partial unique index makes a second
    raise of the same condition (another node, a replayed event) a no-op. ``connector_id`` is -1
    for alarms about the station as a whole, so that the index also covers them (NULLs are distinct).
    One alarm per occurrence: ``raised_at`` is the time of the raising event (or of the crossed
    threshold), the same on every node, so a node that hears of a fault after another node raised
    and cleared it does not raise it again (``uq_alarms_occurrence``, migration 0006).
    """

    __tablename__ = "alarms"
    __table_args__ = (
        Index(
            "uq_alarms_open",
            "station_id",
            "kind",
            "connector_id",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
        Index("uq_alarms_occurrence", "station_id", "kind", "connector_id", "raised_at", unique=True),
        Index(None, "station_id", "raised_at"),
        Index(None, "cleared_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))  # critical | major | minor
    connector_id: Mapped[int] = mapped_column(Integer, default=-1)  # -1 = the station as a whole
    message: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    clear_reason: Mapped[str | None] = mapped_column(String(200))
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
