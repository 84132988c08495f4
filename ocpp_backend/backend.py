"""The backend process: store, services, bus, OCPP server and REST API in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Iterator
from types import TracebackType

import uvicorn

from ocpp_backend.api import create_app
from ocpp_backend.bus import Bus
from ocpp_backend.bus_mqtt import MqttBus, bus_from_env
from ocpp_backend.csms import outbound
from ocpp_backend.csms.schemas import warm_schema_cache
from ocpp_backend.csms.server import OcppServer
from ocpp_backend.db import Database
from ocpp_backend.dispatch.service import Dispatcher
from ocpp_backend.services import Services
from ocpp_backend.settings import Settings

LOG = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the backend owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Backend:
    """Start with ``await backend.start()`` (or ``async with``), stop with ``await backend.stop()``.

    After start, ``ocpp_port`` / ``http_port`` are the ports actually bound (port 0 picks free ones).
    """

    def __init__(self, settings: Settings, bus: Bus | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.bus = bus or bus_from_env(settings)
        self.services = Services.build(settings, self.db, self.bus)
        self.dispatcher = Dispatcher(
            self.services, step_s=settings.dispatch_step_s, telemetry_s=settings.dispatch_telemetry_s
        )  # V2G fleet dispatch (tests may tune it before start)
        self.services.metrics.watch_engine(self.db.engine)
        self.ocpp = OcppServer(self.services)
        self.app = create_app(self.services, self.ocpp)
        self.ocpp_port: int | None = None
        self.http_port: int | None = None
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None

    @property
    def ocpp_url(self) -> str:
        """``ws://host:port/ocpp`` — stations append ``/<station id>``."""
        return f"ws://{self.settings.host}:{self.ocpp_port}/ocpp"

    @property
    def api_url(self) -> str:
        """``http://host:port/api/v1``."""
        return f"http://{self.settings.host}:{self.http_port}/api/v1"

    @property
    def docs_url(self) -> str:
        """Where the OpenAPI UI is served."""
        return f"http://{self.settings.host}:{self.http_port}/docs"

    async def start(self) -> None:
        """Upgrade the store, load the OCPP schemas, start the meter writer and both servers."""
        await self.db.upgrade()
        if isinstance(self.bus, MqttBus):
            await self.bus.start()  # FROSTGRID_BUS_URL: events and commands between processes
        await self.services.registry.reset_connections(single_node=not isinstance(self.bus, MqttBus))
        await self._bootstrap_access()
        count = warm_schema_cache()
        compiled = outbound.warm()
        LOG.info("loaded %d OCPP 1.6 schemas (%d compiled for commands)", count, compiled)
        await self.services.start()
        self.app.state.dispatcher = self.dispatcher  # set here: tests may swap the dispatcher first
        await self.dispatcher.start()
        self.ocpp_port = await self.ocpp.start(self.settings.host, self.settings.ocpp_port)
        if self.settings.http_port is not None:
            await self._start_http()
        self._tune_gc()

    def _tune_gc(self) -> None:
        """Freeze what start-up built out of the collector's reach and space young collections
        out (Settings.gc_threshold says why); process-wide, as the collector is."""
        threshold = self.settings.gc_threshold
        if threshold is None:
            return
        gc.collect()
        gc.freeze()
        gc.set_threshold(*threshold)

    async def _bootstrap_access(self) -> None:
        """Create the admin user / admin API token given in the settings (env), so that a fresh
        install, ``make demo`` and test rigs can log in (docs/interfaces.md, "Operator API access")."""
        from ocpp_backend.users import BOOTSTRAP_TOKEN_NAME

        access, settings = self.services.access, self.settings
        if settings.admin_password:
            await access.ensure_user(settings.admin_user, settings.admin_password, "admin")
        if settings.admin_token:
            await access.ensure_token(settings.admin_token, "admin", BOOTSTRAP_TOKEN_NAME)

    async def _start_http(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.http_port or 0))
        sock.listen(128)
        sock.setblocking(False)
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            log_config=None,  # uvicorn's lines go through our handlers (text or JSON, logging_setup.py)
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._http = _EmbeddedUvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]), name="http-api")
        while not self._http.started:
            if self._http_task.done():
                await self._http_task  # raises what failed
                raise RuntimeError("HTTP API stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Close the sockets (OCPP first so that disconnections are recorded), flush meter values,
        stop the API and release the store."""
        await self.ocpp.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            self._http = self._http_task = None
        await self.dispatcher.stop()
        await self.services.stop()
        await self.bus.close()
        await self.db.close()

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
