"""Tables of the fleet dispatcher (migration ``0004_dispatch``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ocpp_backend.models import Base, UtcDateTime
from ocpp_backend.timeutil import utc_now


class DispatchGroup(Base):
    """A group of stations dispatched together (a feeder, a substation, a district)."""

    __tablename__ = "dispatch_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class GroupStation(Base):
    """A station's membership of one group, and the defaults used for the EVs that plug into it
    when the driver or operator gave none."""

    __tablename__ = "dispatch_group_stations"

    station_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(String(64), ForeignKey("dispatch_groups.id", ondelete="CASCADE"))
    charge_kw: Mapped[float] = mapped_column(Float, default=7.0)  # station limit
    discharge_kw: Mapped[float] = mapped_column(Float, default=6.0)  # used only if the station can
    capacity_kwh: Mapped[float] = mapped_column(Float, default=60.0)
    arrival_soc_pct: Mapped[float] = mapped_column(Float, default=50.0)  # when no SoC is measured
    dwell_h: Mapped[float] = mapped_column(Float, default=10.0)  # departure = start + dwell
    required_soc_pct: Mapped[float] = mapped_column(Float, default=80.0)
    reserve_soc_pct: Mapped[float] = mapped_column(Float, default=30.0)


class EvNeed(Base):
    """What a driver app or operator said about the EV at a station for the current session."""

    __tablename__ = "dispatch_ev_needs"

    station_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    transaction_id: Mapped[int | None] = mapped_column(Integer)  # None: the next session
    capacity_kwh: Mapped[float | None] = mapped_column(Float)
    departure: Mapped[datetime | None] = mapped_column(UtcDateTime)
    required_soc_pct: Mapped[float | None] = mapped_column(Float)
    reserve_soc_pct: Mapped[float | None] = mapped_column(Float)
    soc_pct: Mapped[float | None] = mapped_column(Float)  # at the time below, if told
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class DispatchOrder(Base):
    """A grid order as accepted, and how far it got (so that a restart resumes it)."""

    __tablename__ = "dispatch_orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[str] = mapped_column(String(64))
    # accepted | partial | started | completed | cancelled
    state: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)  # the order (gateway.orders.Order) as JSON
    committed: Mapped[str | None] = mapped_column(Text)  # JSON list of committed kW per interval
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class GroupInterval(Base):
    """The group's measured net energy per 15-minute interval: baseline history and verification."""

    __tablename__ = "dispatch_intervals"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)  # + import / - export
    order_id: Mapped[str | None] = mapped_column(String(64))  # dispatched: not used as baseline
    target_kw: Mapped[float | None] = mapped_column(Float)
    baseline_kwh: Mapped[float | None] = mapped_column(Float)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
