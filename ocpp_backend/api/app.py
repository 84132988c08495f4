"""FastAPI application: thin routes over the services (same services as the OCPP handlers)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Query, Response, status

from ocpp_backend.api.models import (
    ConfigurationAnswer,
    ConfigurationChangeIn,
    ConnectionOut,
    ErrorOut,
    Health,
    IdTokenIn,
    IdTokenOut,
    MeterValueOut,
    ReadingOut,
    RemoteStartIn,
    RemoteStopIn,
    ResetIn,
    StationCreate,
    StationDetail,
    StationOut,
    StatusAnswer,
    TransactionDetail,
    TransactionOut,
    UnlockIn,
)
from ocpp_backend.bus import CommandRejected, CommandTimeout, StationOffline
from ocpp_backend.services import Services
from ocpp_backend.services.registry import StationExists, UnknownStation
from ocpp_backend.services.sessions import TransactionView

T = TypeVar("T")

COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown station"},
    409: {"model": ErrorOut, "description": "Station not connected"},
    502: {"model": ErrorOut, "description": "Station answered with a CALLERROR"},
    504: {"model": ErrorOut, "description": "Station did not answer in time"},
}


class ConnectionInfo(Protocol):
    """What the API needs to know about live sockets (the OCPP server of this node)."""

    def connection(self, station_id: str) -> Any: ...

    @property
    def connected_ids(self) -> list[str]: ...


def _transaction_out(view: TransactionView) -> TransactionOut:
    t = view.transaction
    return TransactionOut(
        id=t.id,
        station_id=t.station_id,
        connector_id=t.connector_id,
        id_tag=t.id_tag,
        meter_start_wh=t.meter_start_wh,
        meter_stop_wh=t.meter_stop_wh,
        energy_wh=view.energy_wh,
        start_time=t.start_time,
        stop_time=t.stop_time,
        stop_reason=t.stop_reason,
        active=t.active,
    )


async def _command(station_id: str, answer: Awaitable[T]) -> T:
    """Await a command and turn its failures into HTTP errors."""
    try:
        return await answer
    except UnknownStation:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered") from None
    except StationOffline as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except CommandTimeout as error:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(error)) from None
    except CommandRejected as error:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            {
                "message": f"station {station_id} answered with a CALLERROR",
                "error_code": error.code,
                "description": error.description,
            },
        ) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


def create_app(services: Services, connections: ConnectionInfo | None = None) -> FastAPI:
    """The API over ``services``; ``connections`` (the OCPP server) adds live socket details."""
    app = FastAPI(
        title="Frostgrid backend",
        version="0.1.0",
        description="Central system of Frostgrid: stations, sessions, meter data and commands.",
    )
    api = APIRouter(prefix="/api/v1")
    registry, sessions, commands = services.registry, services.sessions, services.commands

    async def health() -> Health:
        connected = len(connections.connected_ids) if connections is not None else 0
        return Health(status="ok", stations_connected=connected)

    app.get("/healthz", response_model=Health, tags=["health"])(health)
    api.get("/healthz", response_model=Health, tags=["health"])(health)

    # -- stations -------------------------------------------------------------------------------

    @api.get("/stations", response_model=list[StationOut], tags=["stations"])
    async def list_stations() -> list[StationOut]:
        """Every registered station with its connectors."""
        return [StationOut.model_validate(station) for station in await registry.list()]

    @api.post(
        "/stations",
        response_model=StationOut,
        status_code=status.HTTP_201_CREATED,
        tags=["stations"],
        responses={409: {"model": ErrorOut, "description": "Station exists"}},
    )
    async def add_station(body: StationCreate) -> StationOut:
        """Register a station and its password."""
        try:
            station = await registry.add(body.id, body.password)
        except StationExists:
            raise HTTPException(status.HTTP_409_CONFLICT, f"station {body.id} already exists") from None
        return StationOut.model_validate(station)

    @api.delete(
        "/stations/{station_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["stations"],
        responses={404: {"model": ErrorOut}},
    )
    async def remove_station(station_id: str) -> Response:
        """Unregister a station (its connection is closed; its transactions stay)."""
        try:
            await registry.remove(station_id)
        except UnknownStation:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered"
            ) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get(
        "/stations/{station_id}",
        response_model=StationDetail,
        tags=["stations"],
        responses={404: {"model": ErrorOut}},
    )
    async def station_detail(station_id: str) -> StationDetail:
        """Connection, status per connector, latest readings and active sessions of a station."""
        try:
            station = await registry.get(station_id)
        except UnknownStation:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered"
            ) from None
        live = connections.connection(station_id) if connections is not None else None
        readings = await services.meter_data.latest_for_station(station_id)
        active = await sessions.list(station_id=station_id, active=True)
        base = StationOut.model_validate(station).model_dump()
        return StationDetail(
            **base,
            serial_number=station.serial_number,
            firmware_version=station.firmware_version,
            boot_status=station.boot_status,
            last_boot_at=station.last_boot_at,
            connection=ConnectionOut(
                connected=station.connected,
                last_seen=station.last_seen,
                connected_since=live.connected_at if live is not None else None,
                remote_address=live.remote_address if live is not None else None,
            ),
            last_readings=[ReadingOut.model_validate(row) for row in readings],
            active_transactions=[_transaction_out(view) for view in active],
        )

    # -- commands -------------------------------------------------------------------------------

    @api.post(
        "/stations/{station_id}/remote-start",
        response_model=StatusAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def remote_start(station_id: str, body: RemoteStartIn) -> StatusAnswer:
        """RemoteStartTransaction: the station's answer."""
        answer = await _command(station_id, commands.remote_start(station_id, body.id_tag, body.connector_id))
        return StatusAnswer(**answer)

    @api.post(
        "/stations/{station_id}/remote-stop",
        response_model=StatusAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def remote_stop(station_id: str, body: RemoteStopIn) -> StatusAnswer:
        """RemoteStopTransaction: the station's answer."""
        return StatusAnswer(
            **await _command(station_id, commands.remote_stop(station_id, body.transaction_id))
        )

    @api.post(
        "/stations/{station_id}/reset",
        response_model=StatusAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def reset(station_id: str, body: ResetIn) -> StatusAnswer:
        """Reset (Soft or Hard): the station's answer."""
        return StatusAnswer(**await _command(station_id, commands.reset(station_id, body.type)))

    @api.post(
        "/stations/{station_id}/unlock",
        response_model=StatusAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def unlock(station_id: str, body: UnlockIn) -> StatusAnswer:
        """UnlockConnector: the station's answer."""
        return StatusAnswer(**await _command(station_id, commands.unlock(station_id, body.connector_id)))

    @api.get(
        "/stations/{station_id}/configuration",
        response_model=ConfigurationAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def get_configuration(
        station_id: str, key: list[str] | None = Query(default=None, description="keys to read; all if none")
    ) -> ConfigurationAnswer:
        """GetConfiguration: the station's answer."""
        answer = await _command(station_id, commands.get_configuration(station_id, key))
        return ConfigurationAnswer(
            configuration_key=answer.get("configuration_key") or [],
            unknown_key=answer.get("unknown_key") or [],
        )

    @api.put(
        "/stations/{station_id}/configuration",
        response_model=StatusAnswer,
        tags=["commands"],
        responses=COMMAND_ERRORS,
    )
    async def change_configuration(station_id: str, body: ConfigurationChangeIn) -> StatusAnswer:
        """ChangeConfiguration: the station's answer."""
        return StatusAnswer(
            **await _command(station_id, commands.change_configuration(station_id, body.key, body.value))
        )

    # -- transactions ---------------------------------------------------------------------------

    @api.get("/transactions", response_model=list[TransactionOut], tags=["transactions"])
    async def list_transactions(
        station_id: str | None = None,
        active: bool | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0),
    ) -> list[TransactionOut]:
        """Transactions, newest first."""
        views = await sessions.list(station_id=station_id, active=active, limit=limit, offset=offset)
        return [_transaction_out(view) for view in views]

    @api.get(
        "/transactions/{tx_id}",
        response_model=TransactionDetail,
        tags=["transactions"],
        responses={404: {"model": ErrorOut}},
    )
    async def transaction_detail(tx_id: int) -> TransactionDetail:
        """A transaction with its meter values and energy."""
        view = await sessions.get(tx_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"transaction {tx_id} not found")
        return TransactionDetail(
            **_transaction_out(view).model_dump(),
            meter_values=[MeterValueOut.model_validate(row) for row in view.meter_values or []],
        )

    # -- id tokens ------------------------------------------------------------------------------

    @api.post(
        "/id-tokens", response_model=IdTokenOut, status_code=status.HTTP_201_CREATED, tags=["id tokens"]
    )
    async def put_id_token(body: IdTokenIn) -> IdTokenOut:
        """Register an id token, or update its status if it exists."""
        token = await services.id_tokens.put(body.id_tag, body.status, body.expiry_date, body.parent_id_tag)
        return IdTokenOut.model_validate(token)

    @api.get("/id-tokens", response_model=list[IdTokenOut], tags=["id tokens"])
    async def list_id_tokens() -> list[IdTokenOut]:
        """Every registered id token."""
        return [IdTokenOut.model_validate(token) for token in await services.id_tokens.list()]

    app.include_router(api)
    return app
