"""Station routes: list (filters, pagination), register, remove, detail."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from ocpp_backend.api.auth import require_role
from ocpp_backend.api.models import (
    ConnectionOut,
    ErrorOut,
    ReadingOut,
    StationCreate,
    StationDetail,
    StationOut,
    StatusReportOut,
)
from ocpp_backend.api.transactions import transaction_out
from ocpp_backend.services import Services
from ocpp_backend.services.queries import QueryService
from ocpp_backend.services.registry import StationExists, UnknownStation

TOTAL_HEADER = "X-Total-Count"  # list routes: how many items match the filters, over all pages


class ConnectionInfo(Protocol):
    """What the API needs to know about live sockets (the OCPP server of this node)."""

    def connection(self, station_id: str) -> Any: ...

    @property
    def connected_ids(self) -> list[str]: ...


def not_registered(station_id: str) -> HTTPException:
    """The 404 of an unknown station."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered")


def stations_router(services: Services, connections: ConnectionInfo | None) -> APIRouter:
    """``/stations`` routes."""
    router = APIRouter(prefix="/stations", tags=["stations"])
    registry = services.registry
    queries = QueryService(services.db, services.meter_data)

    @router.get("", response_model=list[StationOut], dependencies=[Depends(require_role("viewer"))])
    async def list_stations(
        response: Response,
        status_: str | None = Query(
            default=None, alias="status", max_length=32, description="some connector reports this status"
        ),
        online: bool | None = Query(default=None, description="connected (true) or not (false)"),
        search: str | None = Query(
            default=None, max_length=64, description="substring of id, vendor, model or serial number"
        ),
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=2**31),
    ) -> list[StationOut]:
        """Registered stations with their connectors, by id; ``X-Total-Count`` counts every match."""
        page = await queries.stations(status_, online, search, limit, offset)
        response.headers[TOTAL_HEADER] = str(page.total)
        return [StationOut.model_validate(station) for station in page.items]

    @router.post(
        "",
        response_model=StationOut,
        status_code=status.HTTP_201_CREATED,
        responses={409: {"model": ErrorOut, "description": "Station exists"}},
        dependencies=[Depends(require_role("admin"))],
    )
    async def add_station(body: StationCreate) -> StationOut:
        """Register a station and its password."""
        try:
            station = await registry.add(body.id, body.password, body.lat, body.lon)
        except StationExists:
            raise HTTPException(status.HTTP_409_CONFLICT, f"station {body.id} already exists") from None
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        return StationOut.model_validate(station)

    @router.delete(
        "/{station_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={404: {"model": ErrorOut}},
        dependencies=[Depends(require_role("admin"))],
    )
    async def remove_station(station_id: str) -> Response:
        """Unregister a station (its connection is closed; its transactions stay)."""
        try:
            await registry.remove(station_id)
        except UnknownStation:
            raise not_registered(station_id) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        "/{station_id}",
        response_model=StationDetail,
        responses={404: {"model": ErrorOut}},
        dependencies=[Depends(require_role("viewer"))],
    )
    async def station_detail(station_id: str) -> StationDetail:
        """Connection, status per connector, latest readings and active sessions of a station."""
        try:
            station = await registry.get(station_id)
        except UnknownStation:
            raise not_registered(station_id) from None
        live = connections.connection(station_id) if connections is not None else None
        readings = await services.meter_data.latest_for_station(station_id)
        active = await services.sessions.list(station_id=station_id, active=True)
        base = StationOut.model_validate(station).model_dump()
        return StationDetail(
            **base,
            serial_number=station.serial_number,
            firmware_version=station.firmware_version,
            boot_status=station.boot_status,
            last_boot_at=station.last_boot_at,
            lat=station.lat,
            lon=station.lon,
            connection=ConnectionOut(
                connected=station.connected,
                last_seen=station.last_seen,
                connected_since=live.connected_at if live is not None else None,
                remote_address=live.remote_address if live is not None else None,
            ),
            last_readings=[ReadingOut.model_validate(row) for row in readings],
            active_transactions=[transaction_out(view) for view in active],
        )

    @router.get(
        "/{station_id}/status-history",
        response_model=list[StatusReportOut],
        responses={404: {"model": ErrorOut}},
        dependencies=[Depends(require_role("viewer"))],
    )
    async def status_history(
        station_id: str, limit: int = Query(default=100, ge=1, le=1000)
    ) -> list[StatusReportOut]:
        """The latest StatusNotifications of a station, newest first (vendor codes included)."""
        if not await registry.exists(station_id):
            raise not_registered(station_id)
        rows = await registry.status_history(station_id, limit)
        return [StatusReportOut.model_validate(row) for row in rows]

    return router
