"""Alarm routes: the list (open or history) with filters, one alarm, acknowledgement."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from ocpp_backend.api.auth import Principal, require_role
from ocpp_backend.api.models import AlarmAckIn, AlarmOut, ErrorOut
from ocpp_backend.operator_models import Alarm
from ocpp_backend.services import Services
from ocpp_backend.services.alarms import KINDS, AlreadyAcknowledged, UnknownAlarm

AlarmKind = Literal[KINDS]  # type: ignore[valid-type]
AlarmId = Path(ge=1, le=2**62)


def alarm_out(alarm: Alarm) -> AlarmOut:
    """An alarm as the API shows it."""
    return AlarmOut.model_validate({**alarm.__dict__, "open": alarm.cleared_at is None})


def alarms_router(services: Services) -> APIRouter:
    """``/alarms`` routes."""
    router = APIRouter(prefix="/alarms", tags=["alarms"])
    alarms = services.alarms

    @router.get("", response_model=list[AlarmOut], dependencies=[Depends(require_role("viewer"))])
    async def list_alarms(
        response: Response,
        open_: bool | None = Query(default=None, alias="open", description="open (true) or cleared (false)"),
        station_id: str | None = Query(default=None, max_length=48),
        kind: AlarmKind | None = None,
        severity: Literal["critical", "major", "minor"] | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=2**31),
    ) -> list[AlarmOut]:
        """Alarms, newest first; ``X-Total-Count`` counts every match."""
        rows, total = await alarms.list(open_, station_id, kind, severity, limit, offset)
        response.headers["X-Total-Count"] = str(total)
        return [alarm_out(alarm) for alarm in rows]

    @router.get(
        "/{alarm_id}",
        response_model=AlarmOut,
        responses={404: {"model": ErrorOut}},
        dependencies=[Depends(require_role("viewer"))],
    )
    async def get_alarm(alarm_id: int = AlarmId) -> AlarmOut:
        """One alarm with its history (raised, cleared, acknowledged)."""
        try:
            return alarm_out(await alarms.get(alarm_id))
        except UnknownAlarm:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}") from None

    @router.post(
        "/{alarm_id}/ack",
        response_model=AlarmOut,
        responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut, "description": "Acknowledged before"}},
    )
    async def acknowledge(
        body: AlarmAckIn,
        alarm_id: int = AlarmId,
        principal: Principal = Depends(require_role("operator")),
    ) -> AlarmOut:
        """Acknowledge an alarm (open or cleared) with a comment; the first acknowledgement stays."""
        try:
            return alarm_out(await alarms.acknowledge(alarm_id, principal.name, body.comment))
        except UnknownAlarm:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}") from None
        except AlreadyAcknowledged:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"alarm {alarm_id} was acknowledged before"
            ) from None

    return router
