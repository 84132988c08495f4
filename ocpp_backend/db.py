"""The store: an async SQLAlchemy engine, sessions, and schema upgrades with Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(db_url: str) -> Config:
    """An Alembic configuration for the migrations shipped in this package (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal '%' in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(db_url: str) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL mode, foreign keys and a generous lock timeout."""
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).parent.is_dir():
            # Fail here, clearly: aiosqlite's worker thread outlives a failed open.
            raise FileNotFoundError(f"directory {Path(path).parent} does not exist")
        engine = create_async_engine(db_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(db_url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """Owns the engine and hands out sessions. ``dialect`` tells services which SQL flavour is in use."""

    def __init__(self, db_url: str) -> None:
        self.url = db_url
        self.engine = make_engine(db_url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def upgrade(self, revision: str = "heads") -> None:
        """Bring the schema to ``revision`` (default: the latest) with the packaged migrations."""
        cfg = alembic_config(self.url)

        def run(connection: Connection) -> None:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(run)

    async def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None for an empty database); with several
        branches (one migration per part of the backend), their heads sorted and joined by ","."""
        from alembic.runtime.migration import MigrationContext

        def read(connection: Connection) -> str | None:
            heads = MigrationContext.configure(connection).get_current_heads()
            return ",".join(sorted(heads)) or None

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
