"""The PostgreSQL test helpers work with the machine's server and with a private one."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ocpp_backend.db import Database
from ocpp_backend.tests.pg import PgServer, _run, postgres_server, postgres_url


async def _database_exists(server: PgServer, name: str) -> bool:
    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user, database="postgres")
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_postgres_url_gives_a_fresh_database_and_drops_it(pg_server: PgServer) -> None:
    with postgres_url(pg_server) as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("frostgrid_test_")
        assert _run(_database_exists(pg_server, name))
        db = Database(url)
        await db.upgrade()
        assert await db.current_revision() is not None
        await db.close()
    assert not _run(_database_exists(pg_server, name))


def test_private_server_is_started_and_stopped_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROSTGRID_TEST_PG", "private")
    with postgres_server() as server:
        assert server.private and server.port != 5432
        with postgres_url(server) as url:

            async def migrate() -> str | None:
                db = Database(url)
                await db.upgrade()
                try:
                    return await db.current_revision()
                finally:
                    await db.close()

            assert asyncio.run(migrate()) is not None
    with pytest.raises(OSError):
        asyncio.run(asyncpg.connect(host=server.host, port=server.port, user="postgres", timeout=2))
