"""The OCPP WebSocket server: ``/ocpp/{station_id}``, subprotocol ``ocpp1.6``, HTTP Basic auth
(security profile 1) checked in the handshake, one current connection per station."""

from __future__ import annotations

import asyncio
import http
import logging
import re
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

from ocpp_backend.bus import Subscription
from ocpp_backend.logging_setup import current_station
from ocpp_backend.services import Services

from .station import StationConnection

LOG = logging.getLogger(__name__)

SUBPROTOCOLS = ["ocpp1.6"]
_PATH_RE = re.compile(r"^/ocpp/([^/]+)/?$")
REPLACED_CLOSE_CODE = 4000  # application-defined: a newer connection of the same station took over
REMOVED_CLOSE_CODE = 4001  # application-defined: the station was unregistered


class OcppServer:
    """Accepts station connections and keeps, per station id, the one that is current."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._server: Server | None = None
        self._current: dict[str, StationConnection] = {}
        self._removals: asyncio.Task[None] | None = None
        # Serializes the connected/disconnected writes of one station, so that a late
        # "disconnected" of an old socket cannot land after the "connected" of its replacement.
        self._state_locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()  # closes in progress (keeps the tasks alive)
        self.port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0 = any free port); returns the port bound."""
        settings = self._services.settings
        self._server = await serve(
            self._handle,
            host,
            port,
            subprotocols=SUBPROTOCOLS,
            process_request=self._process_request,
            compression=None,  # small frames; MicroPython clients do not negotiate deflate
            ping_interval=settings.ws_ping_interval_s,
            ping_timeout=settings.ws_ping_timeout_s,
            max_size=settings.ws_max_frame_bytes,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        subscription = self._services.bus.subscribe(["station.removed"])
        self._removals = asyncio.create_task(self._close_removed(subscription), name="ocpp-removals")
        return self.port

    async def stop(self) -> None:
        """Stop accepting, close every connection (1001 going away) and wait for the handlers."""
        if self._removals is not None:
            self._removals.cancel()
            self._removals = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def connection(self, station_id: str) -> StationConnection | None:
        """The current connection of a station on this node, if any."""
        return self._current.get(station_id)

    @property
    def connected_ids(self) -> list[str]:
        """Ids of the stations connected to this node."""
        return sorted(self._current)

    # -- handshake ------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        match = _PATH_RE.match(path)
        if match is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Use /ocpp/{station_id}\n")
        station_id = unquote(match.group(1))
        current_station.set(station_id)  # this task serves the station's handshake only
        try:
            username, password = parse_authorization_basic(request.headers["Authorization"])
        except (KeyError, InvalidHeader):
            return _unauthorized(connection, "Missing or malformed Basic credentials\n")
        if username != station_id or not await self._services.registry.check_password(station_id, password):
            LOG.warning("refused station %r from %s", station_id, connection.remote_address)
            return _unauthorized(connection, "Unknown station or wrong password\n")
        connection.username = station_id
        return None

    # -- connections ----------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        station_id = connection.username
        # Every log line of this connection's task (ours, the ocpp library's) names the station.
        current_station.set(station_id)
        station = StationConnection(station_id, connection, self._services)
        previous = self._current.get(station_id)
        self._current[station_id] = station
        self._services.bus.attach(station_id, station.execute)
        if previous is not None:
            LOG.info("%s: new connection replaces the previous one", station_id)
            self._close_later(previous, REPLACED_CLOSE_CODE, "replaced by a new connection")
        LOG.info("%s: connected from %s", station_id, connection.remote_address)
        lock = self._state_locks.setdefault(station_id, asyncio.Lock())
        try:
            async with lock:
                await self._services.registry.mark_connected(station_id)
            await station.start()
        except ConnectionClosed:
            pass
        finally:
            station.connection_lost()
            if self._current.get(station_id) is station:
                del self._current[station_id]
                self._services.bus.detach(station_id, station.execute)
                async with lock:
                    if station_id not in self._current:
                        try:
                            await self._services.registry.mark_disconnected(station_id)
                        except Exception:  # noqa: BLE001 - the store may be gone at shutdown
                            LOG.exception("%s: could not record the disconnection", station_id)
            LOG.info("%s: disconnected (%s)", station_id, connection.close_code)

    async def _close_removed(self, subscription: Subscription) -> None:
        with subscription:
            async for event in subscription:
                station = self._current.get(event.station_id)
                if station is not None:
                    self._close_later(station, REMOVED_CLOSE_CODE, "station removed")

    def _close_later(self, station: StationConnection, code: int, reason: str) -> None:
        task = asyncio.create_task(station.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _unauthorized(connection: ServerConnection, text: str) -> Response:
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
    response.headers["WWW-Authenticate"] = build_www_authenticate_basic("Frostgrid OCPP")
    return response
