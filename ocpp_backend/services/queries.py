"""Read-side queries of the operator API: filtered, paginated lists of stations and transactions.

Each returns one page and the total count of matching rows (the API sends it as ``X-Total-Count``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from ocpp_backend.db import Database
from ocpp_backend.models import Connector, Station, Transaction
from ocpp_backend.services.meter_data import MeterDataService
from ocpp_backend.services.sessions import TransactionView


@dataclass(frozen=True)
class Page:
    """One page of results and how many there are in all."""

    items: list[Any]
    total: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _page(db: Database, query: Select[Any], limit: int, offset: int) -> Page:
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        items = list(await session.scalars(query.limit(limit).offset(offset)))
    return Page(items, int(total or 0))


class QueryService:
    """Stations and transactions as the operator API lists them."""

    def __init__(self, db: Database, meter_data: MeterDataService) -> None:
        self._db = db
        self._meter_data = meter_data

    async def stations(
        self,
        status: str | None = None,
        online: bool | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Stations by id. ``status``: some connector currently reports it; ``online``: connected
        or not; ``search``: case-insensitive substring of id, vendor, model or serial number."""
        query = select(Station).options(selectinload(Station.connectors)).order_by(Station.id)
        if online is not None:
            query = query.where(Station.connected.is_(online))
        if status is not None:
            query = query.where(
                select(Connector.station_id)
                .where(Connector.station_id == Station.id, Connector.status == status)
                .exists()
            )
        if search:
            pattern = f"%{_escape_like(search.lower())}%"
            query = query.where(
                or_(
                    *(
                        func.lower(column).like(pattern, escape="\\")
                        for column in (Station.id, Station.vendor, Station.model, Station.serial_number)
                    )
                )
            )
        return await _page(self._db, query, limit, offset)

    async def transactions(
        self,
        station_id: str | None = None,
        active: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        id_tag: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Transactions, newest first, as ``TransactionView``s. ``since``/``until`` keep the
        sessions that were running at some time in [since, until): started before ``until`` and
        not stopped before ``since``."""
        query = select(Transaction).order_by(Transaction.id.desc())
        if station_id is not None:
            query = query.where(Transaction.station_id == station_id)
        if active is True:
            query = query.where(Transaction.stop_time.is_(None))
        elif active is False:
            query = query.where(Transaction.stop_time.is_not(None))
        if until is not None:
            query = query.where(Transaction.start_time < until)
        if since is not None:
            query = query.where(or_(Transaction.stop_time.is_(None), Transaction.stop_time >= since))
        if id_tag is not None:
            query = query.where(Transaction.id_tag == id_tag)
        page = await _page(self._db, query, limit, offset)
        running = await self._meter_data.latest_energy_wh([t.id for t in page.items if t.active])
        views = []
        for transaction in page.items:
            energy: float | None
            if transaction.energy_wh is not None:
                energy = float(transaction.energy_wh)
            elif transaction.id in running:
                energy = running[transaction.id] - transaction.meter_start_wh
            else:
                energy = None
            views.append(TransactionView(transaction, energy))
        return Page(views, page.total)
