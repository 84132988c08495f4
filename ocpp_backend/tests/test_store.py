"""The store: Alembic migrations on fresh databases, and the meter batch writer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select

from ocpp_backend.db import Database, alembic_config
from ocpp_backend.models import Base, MeterValue
from ocpp_backend.services.meter_data import MeterBatchWriter, Reading, reading_rows

TABLES = {
    "stations",
    "connectors",
    "status_history",
    "transactions",
    "meter_values",
    "id_tokens",
    "alembic_version",
    "operator_users",  # 0002_operator
    "api_tokens",
    "operator_sessions",
    "alarms",
}


async def test_migrations_build_the_schema_on_a_fresh_sqlite_file(tmp_path) -> None:
    path = tmp_path / "fresh.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        assert await db.current_revision() is None
        await db.upgrade()
        head = ",".join(sorted(ScriptDirectory.from_config(alembic_config(db.url)).get_heads()))
        assert await db.current_revision() == head
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert TABLES <= tables  # other branches of the migrations add their own
        await db.upgrade()  # a second start is a no-op
        assert await db.current_revision() == head
    finally:
        await db.close()
    assert path.exists()


async def test_migrations_match_the_models_on_both_stores(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert differences == []
    finally:
        await db.close()


async def test_downgrade_to_base_and_back_up(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        await db.upgrade()

        def down(conn) -> None:  # type: ignore[no-untyped-def]
            cfg = alembic_config(db.url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")

        async with db.engine.begin() as conn:
            await conn.run_sync(down)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables == {"alembic_version"}
        await db.upgrade()
        assert await db.current_revision() is not None
    finally:
        await db.close()


def _rows(n: int, start_s: int = 0, tx: int | None = None) -> list[dict]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    readings = [Reading(timestamp=t0 + timedelta(seconds=start_s + i), value=float(i)) for i in range(n)]
    return reading_rows("CP-1", 1, tx, readings)


async def _stored(db: Database) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(MeterValue))


async def test_batch_writer_groups_concurrent_writers_into_one_commit(db_url: str) -> None:
    db = Database(db_url)
    await db.upgrade()
    writer = MeterBatchWriter(db, max_rows=1000, max_delay_ms=50)
    await writer.start()
    try:
        await asyncio.gather(*(writer.write(_rows(3, start_s=10 * i)) for i in range(20)))
        assert writer.batches_written == 1
        assert await _stored(db) == 60
    finally:
        await writer.stop()
        await db.close()


async def test_batch_writer_flushes_at_max_rows_before_the_delay(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    await db.upgrade()
    writer = MeterBatchWriter(db, max_rows=10, max_delay_ms=60_000)
    await writer.start()
    try:
        await asyncio.wait_for(writer.write(_rows(10)), 5)  # would hang a minute without the row limit
        assert await _stored(db) == 10
    finally:
        await writer.stop()
        await db.close()


async def test_batch_writer_flushes_after_the_delay_and_write_returns_when_committed(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    await db.upgrade()
    writer = MeterBatchWriter(db, max_rows=1000, max_delay_ms=100)
    await writer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await writer.write(_rows(2))
        assert loop.time() - started >= 0.09
        assert await _stored(db) == 2
    finally:
        await writer.stop()
        await db.close()


async def test_batch_writer_flushes_pending_rows_on_stop(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    await db.upgrade()
    writer = MeterBatchWriter(db, max_rows=1000, max_delay_ms=60_000)
    await writer.start()
    pending = asyncio.create_task(writer.write(_rows(5)))
    await asyncio.sleep(0.05)
    assert await _stored(db) == 0
    await writer.stop()
    await asyncio.wait_for(pending, 1)
    assert await _stored(db) == 5
    await db.close()


async def test_batch_writer_stores_a_replayed_sample_once(db_url: str) -> None:
    db = Database(db_url)
    await db.upgrade()
    writer = MeterBatchWriter(db, max_rows=1000, max_delay_ms=5)
    await writer.start()
    try:
        rows = _rows(4)
        await asyncio.gather(writer.write(rows), writer.write(rows))  # duplicates within one batch
        await writer.write(rows)  # and across batches
        assert await _stored(db) == 4
    finally:
        await writer.stop()
        await db.close()


async def test_batch_failure_reaches_every_writer_of_the_batch(sqlite_url: str) -> None:
    db = Database(sqlite_url)  # no upgrade: the table does not exist
    writer = MeterBatchWriter(db, max_rows=1000, max_delay_ms=20)
    await writer.start()
    try:
        results = await asyncio.gather(
            writer.write(_rows(1)), writer.write(_rows(1, 5)), return_exceptions=True
        )
        assert all(isinstance(result, Exception) for result in results)
        await db.upgrade()
        await writer.write(_rows(1))  # the writer keeps going after a failed batch
        assert await _stored(db) == 1
    finally:
        await writer.stop()
        await db.close()
