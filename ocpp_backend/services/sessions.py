"""Charging sessions (OCPP transactions): start and stop, both safe to replay."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ocpp_backend.bus import Bus, Event
from ocpp_backend.db import Database
from ocpp_backend.models import MeterValue, Transaction
from ocpp_backend.services.meter_data import MeterDataService, Reading, insert_rows, reading_rows

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartRequest:
    """A StartTransaction in domain terms."""

    station_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    start_time: datetime
    reservation_id: int | None = None


@dataclass(frozen=True)
class StopRequest:
    """A StopTransaction in domain terms; ``readings`` is its transactionData."""

    station_id: str
    transaction_id: int
    meter_stop_wh: int
    stop_time: datetime
    reason: str | None = None
    id_tag: str | None = None
    readings: Sequence[tuple[int, Reading]] = ()  # (connector_id or 0 if unknown, reading)


@dataclass(frozen=True)
class StopOutcome:
    """What a StopTransaction did: ``transaction`` is None if the id is unknown for this station;
    ``replayed`` is True if the transaction had already been stopped (nothing changed)."""

    transaction: Transaction | None
    replayed: bool


@dataclass(frozen=True)
class TransactionView:
    """A transaction with the energy delivered so far (final once stopped)."""

    transaction: Transaction
    energy_wh: float | None
    meter_values: list[MeterValue] | None = None


class SessionService:
    """Transactions: the backend allocates ids, keeps start/stop, and answers replays the same way."""

    def __init__(self, db: Database, bus: Bus, meter_data: MeterDataService) -> None:
        self._db = db
        self._bus = bus
        self._meter_data = meter_data

    async def start(self, request: StartRequest) -> tuple[Transaction, bool]:
        """Record a StartTransaction; returns (transaction, created).

        A replayed Start (same station, connector, idTag, timestamp and meterStart — the firmware
        resends it when the answer was lost) finds the transaction made the first time.
        """
        existing = await self._find_start(request)
        if existing is not None:
            return existing, False
        transaction = Transaction(
            station_id=request.station_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            meter_start_wh=request.meter_start_wh,
            start_time=request.start_time,
            reservation_id=request.reservation_id,
        )
        try:
            async with self._db.session() as session:
                session.add(transaction)
        except IntegrityError:
            # The same Start raced in on another connection; the unique key kept one.
            existing = await self._find_start(request)
            if existing is None:
                raise
            return existing, False
        await self._bus.publish(
            Event(
                "session.started",
                request.station_id,
                {
                    "transaction_id": transaction.id,
                    "connector_id": transaction.connector_id,
                    "id_tag": transaction.id_tag,
                    "meter_start_wh": transaction.meter_start_wh,
                },
            )
        )
        return transaction, True

    async def _find_start(self, request: StartRequest) -> Transaction | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(Transaction).where(
                    Transaction.station_id == request.station_id,
                    Transaction.connector_id == request.connector_id,
                    Transaction.id_tag == request.id_tag,
                    Transaction.start_time == request.start_time,
                    Transaction.meter_start_wh == request.meter_start_wh,
                )
            )

    async def stop(self, request: StopRequest) -> StopOutcome:
        """Record a StopTransaction with its transactionData, in one database transaction.

        A Stop for a transaction already stopped changes nothing (the first Stop counts); a Stop
        for an id this station never started is reported as unknown and stores nothing.
        """
        async with self._db.session() as session:
            transaction = await session.get(Transaction, request.transaction_id, with_for_update=True)
            if transaction is None or transaction.station_id != request.station_id:
                LOG.warning(
                    "%s: StopTransaction for unknown transaction %s",
                    request.station_id,
                    request.transaction_id,
                )
                return StopOutcome(None, False)
            if transaction.stop_time is not None:
                return StopOutcome(transaction, True)
            transaction.meter_stop_wh = request.meter_stop_wh
            transaction.stop_time = request.stop_time
            transaction.stop_reason = request.reason
            transaction.stop_id_tag = request.id_tag
            rows = []
            for connector_id, reading in request.readings:
                rows += reading_rows(
                    request.station_id, connector_id or transaction.connector_id, transaction.id, [reading]
                )
            await insert_rows(session, rows)
        await self._bus.publish(
            Event(
                "session.stopped",
                request.station_id,
                {
                    "transaction_id": transaction.id,
                    "connector_id": transaction.connector_id,
                    "id_tag": transaction.id_tag,
                    "meter_start_wh": transaction.meter_start_wh,
                    "meter_stop_wh": transaction.meter_stop_wh,
                    "energy_wh": transaction.energy_wh,
                    "reason": transaction.stop_reason,
                },
            )
        )
        return StopOutcome(transaction, False)

    async def list(
        self, station_id: str | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
    ) -> list[TransactionView]:
        """Transactions, newest first, optionally of one station and/or only (in)active ones."""
        query = select(Transaction)
        if station_id is not None:
            query = query.where(Transaction.station_id == station_id)
        if active is True:
            query = query.where(Transaction.stop_time.is_(None))
        elif active is False:
            query = query.where(Transaction.stop_time.is_not(None))
        query = query.order_by(Transaction.id.desc()).limit(limit).offset(offset)
        async with self._db.session() as session:
            transactions = list(await session.scalars(query))
        running = await self._meter_data.latest_energy_wh([t.id for t in transactions if t.active])
        return [TransactionView(t, self._energy_wh(t, running.get(t.id))) for t in transactions]

    async def get(self, transaction_id: int) -> TransactionView | None:
        """One transaction with its meter values, or None."""
        async with self._db.session() as session:
            transaction = await session.get(Transaction, transaction_id)
        if transaction is None:
            return None
        meter_values = await self._meter_data.for_transaction(transaction_id)
        running = await self._meter_data.latest_energy_wh([transaction.id]) if transaction.active else {}
        return TransactionView(
            transaction, self._energy_wh(transaction, running.get(transaction.id)), meter_values
        )

    @staticmethod
    def _energy_wh(transaction: Transaction, register_wh: float | None) -> float | None:
        """Stopped: meter stop − meter start. Active: latest register reading − meter start."""
        if transaction.energy_wh is not None:
            return float(transaction.energy_wh)
        if register_wh is None:
            return None
        return register_wh - transaction.meter_start_wh
