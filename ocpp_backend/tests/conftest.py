"""Fixtures of the backend tests: stores (SQLite and PostgreSQL), a running backend, clients."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from ocpp_backend.backend import Backend
from ocpp_backend.models import Station
from ocpp_backend.passwords import hash_password
from ocpp_backend.settings import Settings
from ocpp_backend.tests.pg import PgServer, postgres_server, postgres_url

PASSWORD = "correct horse"


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    """A SQLite file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'frostgrid.db'}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The machine's PostgreSQL, or a private server started for the test session."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after the test."""
    with postgres_url(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on both stores."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def test_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for a backend on loopback with a free OCPP port, no HTTP API (``http_port=0`` to
    have one) and a short command timeout."""
    base = Settings(
        db_url=db_url, host="127.0.0.1", ocpp_port=0, http_port=None, command_timeout_s=2.0, heartbeat_s=60
    )
    return replace(base, **overrides)


@functools.cache
def _hash_of(password: str) -> str:
    return hash_password(password)


async def register(backend: Backend, station_id: str, password: str) -> None:
    """Register a station quickly: the (deliberately slow) scrypt hash is computed once per password."""
    async with backend.db.session() as session:
        session.add(Station(id=station_id, password_hash=_hash_of(password), connected=False))


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name

BackendFactory = Callable[..., AbstractAsyncContextManager[Backend]]


@pytest.fixture
def make_backend() -> BackendFactory:
    """``async with make_backend(db_url, **settings) as backend``: a started backend, stopped after."""

    @asynccontextmanager
    async def factory(
        url: str, stations: dict[str, str] | None = None, **overrides: Any
    ) -> AsyncIterator[Backend]:
        backend = Backend(test_settings(url, **overrides))
        await backend.start()
        try:
            for station_id, password in (stations or {}).items():
                await register(backend, station_id, password)
            yield backend
        finally:
            await backend.stop()

    return factory


@pytest.fixture
async def backend(sqlite_url: str, make_backend: BackendFactory) -> AsyncIterator[Backend]:
    """A backend on SQLite with stations CP-1 and CP-2 (password ``PASSWORD``) and card TAG-OK."""
    async with make_backend(sqlite_url, stations={"CP-1": PASSWORD, "CP-2": PASSWORD}) as started:
        await started.services.id_tokens.put("TAG-OK")
        yield started


@pytest.fixture
async def any_backend(db_url: str, make_backend: BackendFactory) -> AsyncIterator[Backend]:
    """Like ``backend``, once on SQLite and once on PostgreSQL."""
    async with make_backend(db_url, stations={"CP-1": PASSWORD, "CP-2": PASSWORD}) as started:
        await started.services.id_tokens.put("TAG-OK")
        yield started


@pytest.fixture
async def api_backend(sqlite_url: str, make_backend: BackendFactory) -> AsyncIterator[Backend]:
    """Like ``backend``, with the REST API on a free port."""
    async with make_backend(
        sqlite_url, stations={"CP-1": PASSWORD, "CP-2": PASSWORD}, http_port=0
    ) as started:
        await started.services.id_tokens.put("TAG-OK")
        yield started


@pytest.fixture
async def api(api_backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``api_backend``'s REST API (base URL ``.../api/v1``), authenticated as an
    admin with a bearer token."""
    token = (await api_backend.services.access.create_token("admin", "tests")).token
    async with httpx.AsyncClient(
        base_url=api_backend.api_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file shared by the tests of a module (for hypothesis examples)."""
    import asyncio

    from ocpp_backend.db import Database

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('shared') / 'frostgrid.db'}"

    async def migrate() -> None:
        db = Database(url)
        await db.upgrade()
        await db.close()

    asyncio.run(migrate())
    return url
