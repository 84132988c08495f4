"""Throw-away PostgreSQL databases for tests (this package's and ``hil_tests``').

Use::

    from ocpp_backend.tests.pg import postgres_url

    with postgres_url() as url:          # "postgresql+asyncpg://postgres@127.0.0.1:5432/frostgrid_test_1a2b3c4d"
        ...                              # a fresh, empty database, dropped on exit

or, to share one server across many databases (as the pytest fixtures do)::

    with postgres_server() as server:    # PgServer(host, port, user)
        with postgres_url(server) as url:
            ...

The server is the machine's own on 127.0.0.1:5432 (user ``postgres``, trust auth) when it answers;
otherwise a private one is made with ``initdb`` in a temporary directory on a free port, run as the
``postgres`` OS user when we are root, and stopped and deleted on exit. ``FROSTGRID_TEST_PG=private``
forces the private server. All helpers are plain (synchronous) context managers and work whether or
not an event loop is running in the calling thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

MACHINE_HOST = "127.0.0.1"
MACHINE_PORT = 5432
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PgServer:
    """A reachable PostgreSQL server with a trusted superuser."""

    host: str
    port: int
    user: str = SUPERUSER
    private: bool = False  # True when started by these helpers

    def url(self, database: str, driver: str = "asyncpg") -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+{driver}://{self.user}@{self.host}:{self.port}/{database}"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a private loop in a worker thread (safe inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _execute(host: str, port: int, user: str, *statements: str) -> None:
    conn = await asyncpg.connect(host=host, port=port, user=user, database="postgres", timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def server_answers(host: str = MACHINE_HOST, port: int = MACHINE_PORT, user: str = SUPERUSER) -> bool:
    """True if a PostgreSQL server at host:port lets ``user`` in."""
    try:
        _run(_execute(host, port, user, "SELECT 1"))
        return True
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((MACHINE_HOST, 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key, reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found (looked in /usr/lib/postgresql/*/bin and PATH)")
    return found


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _as_postgres(args: list[str]) -> list[str]:
    """initdb/postgres refuse to run as root: run them as the postgres OS user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextlib.contextmanager
def _private_server() -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="frostgrid-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    pg_ctl = _pg_bin("pg_ctl")
    try:
        subprocess.run(
            _as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses={MACHINE_HOST} -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except subprocess.CalledProcessError as error:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start a private PostgreSQL: {error.stderr!r} {log}") from error
    try:
        yield PgServer(MACHINE_HOST, port, SUPERUSER, private=True)
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """The machine's PostgreSQL on 127.0.0.1:5432 if it answers, else a private one for the duration."""
    if os.environ.get("FROSTGRID_TEST_PG") != "private" and server_answers():
        yield PgServer(MACHINE_HOST, MACHINE_PORT, SUPERUSER)
        return
    with _private_server() as server:
        yield server


@contextlib.contextmanager
def postgres_url(server: PgServer | None = None, prefix: str = "frostgrid_test") -> Iterator[str]:
    """A fresh database ``<prefix>_<random>``; yields its ``postgresql+asyncpg://`` URL and drops it
    on exit. Without ``server``, one is found or started (and stopped) just for this database."""
    if server is None:
        with postgres_server() as found, postgres_url(found, prefix) as url:
            yield url
        return
    name = f"{prefix}_{secrets.token_hex(4)}"
    _run(_execute(server.host, server.port, server.user, f'CREATE DATABASE "{name}"'))
    try:
        yield server.url(name)
    finally:
        _run(
            _execute(server.host, server.port, server.user, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


def fresh_database(prefix: str = "frostgrid_test") -> contextlib.AbstractContextManager[str]:
    """``postgres_url()`` under the name ``hil_tests`` looks for: ``with fresh_database() as url``."""
    return postgres_url(None, prefix)
