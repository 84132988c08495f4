"""ORM tables of the store (SQLAlchemy 2). The Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ocpp_backend.timeutil import utc_now


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL keeps them as ``timestamptz``; SQLite has no time zones, so they are stored as naive
    UTC and given back their UTC zone when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so that migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING)


class Station(Base):
    """A registered charging station (charge point) and what it last said about itself."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_node: Mapped[str | None] = mapped_column(String(100))  # backend node holding the socket
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    boot_status: Mapped[str | None] = mapped_column(String(16))  # registration status last answered
    last_boot_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    lat: Mapped[float | None] = mapped_column(Float)  # WGS 84 degrees, for the map (optional)
    lon: Mapped[float | None] = mapped_column(Float)

    connectors: Mapped[list[Connector]] = relationship(
        back_populates="station",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Connector.connector_id",
    )


class Connector(Base):
    """The latest StatusNotification of one connector (0 = the station as a whole)."""

    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(40))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    station: Mapped[Station] = relationship(back_populates="connectors")


class StatusHistory(Base):
    """Every StatusNotification received, in arrival order."""

    __tablename__ = "status_history"
    __table_args__ = (Index(None, "station_id", "connector_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48), ForeignKey("stations.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(40))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)  # the station's time (or arrival)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Transaction(Base):
    """A charging session. Transactions outlive their station's registration (billing history)."""

    __tablename__ = "transactions"
    __table_args__ = (
        # A replayed StartTransaction carries the same values: it must find the same row.
        UniqueConstraint(
            "station_id",
            "connector_id",
            "id_tag",
            "start_time",
            "meter_start_wh",
            name="uq_transactions_start",
        ),
        Index(None, "station_id", "stop_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # OCPP transactionId
    station_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(20))
    meter_start_wh: Mapped[int] = mapped_column(BigInteger)
    meter_stop_wh: Mapped[int | None] = mapped_column(BigInteger)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    stop_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(20))
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    @property
    def active(self) -> bool:
        """True until the StopTransaction arrives."""
        return self.stop_time is None

    @property
    def energy_wh(self) -> int | None:
        """Energy of a finished transaction: meter stop minus meter start (None while active)."""
        if self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


class MeterValue(Base):
    """One sampled value (OCPP SampledValue), with the spec's defaults filled in.

    ``sample_key`` identifies a sample across replays: the firmware resends readings whose answer was
    lost, and the same sample must be stored once.
    """

    __tablename__ = "meter_values"
    __table_args__ = (
        Index(None, "station_id", "id"),
        Index(None, "transaction_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("transactions.id", ondelete="CASCADE")
    )
    station_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    measurand: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(String(8))
    context: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    sample_key: Mapped[str] = mapped_column(String(40), unique=True)


class IdToken(Base):
    """An RFID card or other identifier the backend authorizes."""

    __tablename__ = "id_tokens"

    id_tag: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # Accepted | Blocked | Expired | Invalid
    expiry_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
