"""Meter data: sampled values, stored once each, in batched writes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ocpp_backend.bus import Bus, Event
from ocpp_backend.db import Database
from ocpp_backend.models import MeterValue, Transaction

LOG = logging.getLogger(__name__)

ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
# OCPP 1.6 defaults of SampledValue fields that a station may leave out.
DEFAULT_MEASURAND = ENERGY_IMPORT_REGISTER
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"
DEFAULT_UNIT = "Wh"

# Heater reports (DataTransfer vendorId "Frostgrid", messageId "Heater", docs/interfaces.md §1.6)
# are stored as readings without a transaction, on connector 0 (the station as a whole), location
# "Body", context "Sample.Periodic", timestamped with the report's ``ts`` (the station's clock) or,
# without one, when the backend receives them. The zone's name follows the measurand after a colon
# ("Frostgrid.Heater.Duty:electronics"): the ``location`` column holds only an OCPP location (8
# characters). A readings query for the bare name returns every zone.
HEATER_DUTY = "Frostgrid.Heater.Duty"  # unit "Percent": duty_pm / 10
HEATER_ENERGY = "Frostgrid.Heater.Energy"  # unit "Wh": the zone heater's energy counter
HEATER_ZONE_SEP = ":"
HEATER_LOCATION = "Body"
MAX_ZONE_NAME = 64 - len(HEATER_ENERGY) - len(HEATER_ZONE_SEP)  # fits the measurand column
# The report's ``amb_c``: the air around the station, so that zone temperatures can be read against
# it. OCPP 1.6 has no location for outside air; "Body" (the station) with a measurand of its own.
AMBIENT = "Frostgrid.Ambient"  # unit "Celsius"
AMBIENT_RANGE_C = (-100.0, 100.0)  # beyond this the station's sensor is broken, not the weather
# RFC 3339 date-time with a mandatory offset (a time without one names no instant). ``fromisoformat``
# alone would also take dates without a time, week dates and the basic format.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Reading:
    """One sampled value with the spec's defaults applied."""

    timestamp: datetime
    value: float
    measurand: str = DEFAULT_MEASURAND
    phase: str | None = None
    location: str = DEFAULT_LOCATION
    context: str = DEFAULT_CONTEXT
    unit: str = DEFAULT_UNIT


def sample_key(station_id: str, connector_id: int, transaction_id: int | None, reading: Reading) -> str:
    """A stable id of one sample: a replayed reading gets the same key and is stored once."""
    parts = (
        station_id,
        str(connector_id),
        "" if transaction_id is None else str(transaction_id),
        reading.timestamp.isoformat(),
        reading.measurand,
        reading.phase or "",
        reading.location,
        reading.context,
        reading.unit,
        repr(float(reading.value)),
    )
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def reading_rows(
    station_id: str, connector_id: int, transaction_id: int | None, readings: Iterable[Reading]
) -> list[dict[str, Any]]:
    """Rows for the ``meter_values`` table."""
    return [
        {
            "station_id": station_id,
            "connector_id": connector_id,
            "transaction_id": transaction_id,
            "sample_key": sample_key(station_id, connector_id, transaction_id, reading),
            **asdict(reading),
        }
        for reading in readings
    ]


async def insert_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert meter rows, skipping samples already stored (same ``sample_key``)."""
    if not rows:
        return
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported stores
        raise RuntimeError(f"unsupported database {dialect}")
    unique: dict[str, dict[str, Any]] = {row["sample_key"]: row for row in rows}
    batch = list(unique.values())
    # Stay well below the bind-parameter limits (32767 on SQLite, 65535 on PostgreSQL).
    step = 2000
    for start in range(0, len(batch), step):
        stmt = insert(MeterValue).values(batch[start : start + step])
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["sample_key"]))


class MalformedHeaterReport(ValueError):
    """A Frostgrid ``Heater`` DataTransfer whose data is not the documented JSON."""


def _number(zone: dict[str, Any], key: str, low: float, high: float) -> float:
    value = zone.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedHeaterReport(f"zone {zone.get('name')!r}: {key} is not a number")
    if not low <= value <= high:
        raise MalformedHeaterReport(f"zone {zone.get('name')!r}: {key}={value} out of [{low}, {high}]")
    return float(value)


def report_time(report: dict[str, Any], received: datetime) -> datetime:
    """The time of a heater report's readings: its ``ts`` (RFC 3339, the station's clock) as aware
    UTC, or ``received`` when the report has none (absent or null).

    A report the station resends after a lost answer carries the same ``ts``, so its readings get
    the same ``sample_key`` and are stored once. Raises :class:`MalformedHeaterReport`.
    """
    text = report.get("ts")
    if text is None:
        return received
    if not isinstance(text, str) or _RFC3339.fullmatch(text) is None:
        raise MalformedHeaterReport(f"ts {text!r} is not an RFC 3339 date-time with an offset")
    # fromisoformat takes at most 6 fractional digits: cut nanoseconds to microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("z", "Z").replace("t", "T"))
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:  # e.g. month 13, hour 25
        raise MalformedHeaterReport(f"ts {report['ts']!r} is not a valid date-time") from None


def ambient_reading(report: dict[str, Any], at: datetime) -> Reading | None:
    """The report's ambient air temperature ``amb_c`` as a ``Frostgrid.Ambient`` reading, or None
    when the station has no ambient sensor (absent or null). Raises :class:`MalformedHeaterReport`."""
    value = report.get("amb_c")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedHeaterReport(f"amb_c {value!r} is not a number")
    low, high = AMBIENT_RANGE_C
    if not low <= value <= high:
        raise MalformedHeaterReport(f"amb_c={value} out of [{low:g}, {high:g}] °C")
    return Reading(
        timestamp=at, value=float(value), measurand=AMBIENT, location=HEATER_LOCATION, unit="Celsius"
    )


def heater_readings(data: str | None, received: datetime) -> list[Reading]:
    """Readings (duty and energy per zone, and the ambient temperature) of a heater report's
    ``data`` text, timestamped with its ``ts`` or else ``received``.

    Raises :class:`MalformedHeaterReport` if ``data`` is not the documented JSON object
    ``{"zones": [{"name": str, "duty_pm": 0..1000, "energy_wh": >= 0, ...}], "ts"?: RFC 3339,
    "amb_c"?: number | null, ...}``; nothing of a malformed report is kept.
    """
    if not isinstance(data, str):
        raise MalformedHeaterReport("data is missing or not a text")
    try:
        report = json.loads(data)
    except ValueError as error:
        raise MalformedHeaterReport(f"data is not JSON: {error}") from None
    zones = report.get("zones") if isinstance(report, dict) else None
    if not isinstance(zones, list):
        raise MalformedHeaterReport("data has no list of zones")
    at = report_time(report, received)
    readings: list[Reading] = []
    seen: set[str] = set()
    for zone in zones:
        if not isinstance(zone, dict):
            raise MalformedHeaterReport("a zone is not an object")
        name = zone.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME or name in seen:
            raise MalformedHeaterReport(f"bad or repeated zone name {name!r}")
        seen.add(name)
        duty_pct = _number(zone, "duty_pm", 0, 1000) / 10.0
        energy_wh = _number(zone, "energy_wh", 0, 1e12)
        for measurand, value, unit in ((HEATER_DUTY, duty_pct, "Percent"), (HEATER_ENERGY, energy_wh, "Wh")):
            readings.append(
                Reading(
                    timestamp=at,
                    value=value,
                    measurand=f"{measurand}{HEATER_ZONE_SEP}{name}",
                    location=HEATER_LOCATION,
                    unit=unit,
                )
            )
    ambient = ambient_reading(report, at)
    if ambient is not None:
        readings.append(ambient)
    return readings


class MeterBatchWriter:
    """Group commit of meter rows.

    ``write`` queues rows and returns once the batch holding them is committed, so that a station's
    MeterValues is answered only after its readings are safe. A batch is written when it reaches
    ``max_rows`` or ``max_delay_ms`` after its first row, whichever comes first; ``stop`` flushes.
    If a batch fails, every writer of that batch gets the exception (the station will retry).
    """

    def __init__(self, db: Database, max_rows: int = 500, max_delay_ms: int = 20) -> None:
        self._db = db
        self.max_rows = max_rows
        self.max_delay_s = max_delay_ms / 1000.0
        self._rows: list[dict[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._pending = asyncio.Event()  # set while rows wait
        self._full = asyncio.Event()  # set when rows reach max_rows
        self._lock = asyncio.Lock()  # one batch in flight at a time
        self._task: asyncio.Task[None] | None = None
        self.batches_written = 0

    async def start(self) -> None:
        """Start the background flusher."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="meter-batch-writer")

    async def stop(self) -> None:
        """Stop the flusher and write what is pending."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.flush()

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Queue ``rows``; returns when they are committed (or raises what the commit raised)."""
        if not rows:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rows.extend(rows)
        self._waiters.append(future)
        self._pending.set()
        if len(self._rows) >= self.max_rows:
            self._full.set()
        if self._task is None:
            await self.flush()
        await future

    async def flush(self) -> None:
        """Write every pending row now."""
        async with self._lock:
            await self._write_batch()

    async def _run(self) -> None:
        while True:
            await self._pending.wait()
            try:
                await asyncio.wait_for(self._full.wait(), self.max_delay_s)
            except TimeoutError:
                pass
            async with self._lock:
                await self._write_batch()

    async def _write_batch(self) -> None:
        rows, waiters = self._rows, self._waiters
        self._rows, self._waiters = [], []
        self._pending.clear()
        self._full.clear()
        if not waiters:
            return
        try:
            async with self._db.session() as session:
                await insert_rows(session, rows)
        except Exception as exc:  # noqa: BLE001 - handed to every writer of the batch
            LOG.exception("meter batch of %d rows failed", len(rows))
            for future in waiters:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches_written += 1
        for future in waiters:
            if not future.done():
                future.set_result(None)


class MeterDataService:
    """Readings from stations: stored, published, and queried."""

    def __init__(self, db: Database, bus: Bus, writer: MeterBatchWriter) -> None:
        self._db = db
        self._bus = bus
        self.writer = writer

    async def record(
        self, station_id: str, connector_id: int, transaction_id: int | None, readings: Sequence[Reading]
    ) -> None:
        """Store readings from a MeterValues message (returns once they are committed).

        A transactionId the backend does not know for this station is dropped from the rows (the
        readings are kept, unattached) rather than failing the whole batch.
        """
        if transaction_id is not None and not await self._transaction_belongs(station_id, transaction_id):
            LOG.warning("%s: MeterValues for unknown transaction %s", station_id, transaction_id)
            transaction_id = None
        await self.writer.write(reading_rows(station_id, connector_id, transaction_id, readings))
        await self._bus.publish(
            Event(
                "meter.readings",
                station_id,
                {
                    "connector_id": connector_id,
                    "transaction_id": transaction_id,
                    "readings": [asdict(reading) for reading in readings],
                },
            )
        )

    async def record_heater_report(self, station_id: str, data: str | None, received: datetime) -> int:
        """Store a heater report's duty and energy per zone and its ambient temperature (connector
        0, no transaction, at the report's ``ts`` or else ``received``) and publish them as
        ``meter.readings``; returns how many readings the report holds (a resent report's readings
        are stored once, through their ``sample_key``).

        Raises :class:`MalformedHeaterReport` (nothing stored) if ``data`` is malformed.
        """
        readings = heater_readings(data, received)
        if readings:
            await self.record(station_id, 0, None, readings)
        return len(readings)

    async def _transaction_belongs(self, station_id: str, transaction_id: int) -> bool:
        async with self._db.session() as session:
            owner = await session.scalar(
                select(Transaction.station_id).where(Transaction.id == transaction_id)
            )
        return owner == station_id

    async def for_transaction(self, transaction_id: int) -> list[MeterValue]:
        """Every stored reading of a transaction, in time order (pending batches flushed first)."""
        await self.writer.flush()
        async with self._db.session() as session:
            result = await session.scalars(
                select(MeterValue)
                .where(MeterValue.transaction_id == transaction_id)
                .order_by(MeterValue.timestamp, MeterValue.id)
            )
            return list(result)

    async def latest_for_station(self, station_id: str, scan: int = 200) -> list[MeterValue]:
        """The newest reading per (connector, measurand, phase, location) among the last ``scan``."""
        await self.writer.flush()
        async with self._db.session() as session:
            result = await session.scalars(
                select(MeterValue)
                .where(MeterValue.station_id == station_id)
                .order_by(MeterValue.id.desc())
                .limit(scan)
            )
            latest: dict[tuple[int, str, str | None, str], MeterValue] = {}
            for row in result:
                latest.setdefault((row.connector_id, row.measurand, row.phase, row.location), row)
        return sorted(latest.values(), key=lambda row: (row.connector_id, row.measurand, row.phase or ""))

    async def latest_energy_wh(self, transaction_ids: Sequence[int]) -> dict[int, float]:
        """The latest import energy register (Wh) of each transaction that has one."""
        if not transaction_ids:
            return {}
        await self.writer.flush()
        ranked = (
            select(
                MeterValue.transaction_id,
                MeterValue.value,
                MeterValue.unit,
                func.row_number()
                .over(
                    partition_by=MeterValue.transaction_id,
                    order_by=(MeterValue.timestamp.desc(), MeterValue.id.desc()),
                )
                .label("rank"),
            )
            .where(
                MeterValue.transaction_id.in_(transaction_ids),
                MeterValue.measurand == ENERGY_IMPORT_REGISTER,
                MeterValue.phase.is_(None),
                MeterValue.unit.in_(("Wh", "kWh")),
            )
            .subquery()
        )
        async with self._db.session() as session:
            rows = await session.execute(
                select(ranked.c.transaction_id, ranked.c.value, ranked.c.unit).where(ranked.c.rank == 1)
            )
            return {
                transaction_id: value * (1000.0 if unit == "kWh" else 1.0)
                for transaction_id, value, unit in rows
            }
