"""Dispatch routes: groups, EV needs, and orders (the REST way in for a grid party that does not
use MQTT; the same checks as the gateway, with a dispatcher token in place of a signature)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from gateway.orders import Ack, Order, Rejected, order_id_of, parse_order
from ocpp_backend.api.auth import require_role
from ocpp_backend.dispatch.models import DispatchOrder
from ocpp_backend.timeutil import utc_now

READERS = require_role("viewer", "dispatcher")
OPERATORS = require_role("operator")
DISPATCHERS = require_role("dispatcher", "admin")


class GroupIn(BaseModel):
    """Stations of a group (added to it; a station is in one group) and their defaults."""

    stations: list[str] = Field(min_length=1)
    description: str | None = Field(None, max_length=200)
    charge_kw: float | None = Field(None, gt=0, le=350)
    discharge_kw: float | None = Field(None, ge=0, le=350)


class GroupOut(BaseModel):
    """A group and its stations."""

    id: str
    stations: list[str]


class NeedsIn(BaseModel):
    """What a driver app or operator says about the EV at a station."""

    capacity_kwh: float | None = Field(None, gt=0, le=300)
    departure: datetime | None = None
    required_soc_pct: float | None = Field(None, ge=0, le=100)
    reserve_soc_pct: float | None = Field(None, ge=0, le=100)
    soc_pct: float | None = Field(None, ge=0, le=100)


class OrderOut(BaseModel):
    """An order and how far it got."""

    order_id: str
    revision: int
    group: str
    state: str
    committed_kw: list[float] | None
    order: dict[str, Any]


def _dispatcher(request: Request) -> Any:
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no dispatcher runs in this process")
    return dispatcher


def dispatch_router() -> APIRouter:
    """``/dispatch`` routes (the dispatcher is ``app.state.dispatcher``, set by the backend)."""
    router = APIRouter(prefix="/dispatch", tags=["dispatch"])

    @router.get("/groups", response_model=list[GroupOut], dependencies=[Depends(READERS)])
    async def list_groups(request: Request) -> list[GroupOut]:
        """Every dispatch group with its stations."""
        groups = await _dispatcher(request).groups()
        return [GroupOut(id=g, stations=sorted(s)) for g, s in sorted(groups.items())]

    @router.put("/groups/{group_id}", response_model=GroupOut, dependencies=[Depends(OPERATORS)])
    async def put_group(request: Request, group_id: str, body: GroupIn) -> GroupOut:
        """Create a group or add stations to it."""
        dispatcher = _dispatcher(request)
        registry = dispatcher.services.registry
        for station_id in body.stations:
            if not await registry.exists(station_id):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered")
        defaults = {
            k: v
            for k, v in {"charge_kw": body.charge_kw, "discharge_kw": body.discharge_kw}.items()
            if v is not None
        }
        await dispatcher.add_group(group_id, body.stations, body.description, **defaults)
        return GroupOut(id=group_id, stations=sorted((await dispatcher.groups())[group_id]))

    @router.delete("/groups/{group_id}", status_code=204, dependencies=[Depends(OPERATORS)])
    async def delete_group(request: Request, group_id: str) -> None:
        """Delete a group (its stations leave it)."""
        await _dispatcher(request).remove_group(group_id)

    @router.put(
        "/needs/{station_id}", status_code=204, dependencies=[Depends(require_role("operator", "dispatcher"))]
    )
    async def put_needs(request: Request, station_id: str, body: NeedsIn) -> None:
        """The EV at ``station_id`` (current session, or the next one if none is active)."""
        dispatcher = _dispatcher(request)
        if not await dispatcher.services.registry.exists(station_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} is not registered")
        await dispatcher.set_needs(station_id, **body.model_dump(exclude_none=True))

    @router.get("/orders", response_model=list[OrderOut], dependencies=[Depends(READERS)])
    async def list_orders(request: Request) -> list[OrderOut]:
        """Orders, newest first (live and finished)."""
        dispatcher = _dispatcher(request)
        async with dispatcher.db.session() as session:
            rows = (
                await session.scalars(select(DispatchOrder).order_by(DispatchOrder.created_at.desc()))
            ).all()
        return [
            OrderOut(
                order_id=r.order_id,
                revision=r.revision,
                group=r.group_id,
                state=r.state,
                committed_kw=json.loads(r.committed) if r.committed else None,
                order=json.loads(r.body),
            )
            for r in rows
        ]

    @router.post("/orders", response_model=Ack, dependencies=[Depends(DISPATCHERS)])
    async def post_order(request: Request) -> Ack:
        """Submit an order (same JSON as on MQTT ``dispatch/order``); answers the accepted, partial
        or rejected ack (a rejection is a 200 with ``stage: rejected`` and the field at fault)."""
        raw = await request.body()
        try:
            order: Order = parse_order(raw, utc_now())
        except Rejected as error:
            return Ack(
                order_id=order_id_of(raw) or "_invalid",
                stage="rejected",
                time=utc_now(),
                reason=error.reason,
                field=error.field,
            )
        return await _dispatcher(request).submit(order)

    @router.post("/orders/{order_id}/cancel", status_code=204, dependencies=[Depends(DISPATCHERS)])
    async def cancel_order(request: Request, order_id: str) -> None:
        """End a live order now."""
        if not await _dispatcher(request).cancel(order_id, "cancelled through the API"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live order {order_id}")

    return router
