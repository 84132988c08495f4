"""Alembic environment for the Frostgrid store.

Run from code (``Database.upgrade``), a live connection is passed in ``config.attributes``; run
from the ``alembic`` command (``alembic -c ocpp_backend/migrations/alembic.ini ...``), an async
engine is made from the URL (``FROSTGRID_DB`` or the default SQLite file).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from ocpp_backend.models import Base
from ocpp_backend.settings import default_db_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or default_db_url()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    shared = config.attributes.get("connection")
    if shared is None:
        asyncio.run(_run_with_own_engine())
    else:
        _configure(shared)
