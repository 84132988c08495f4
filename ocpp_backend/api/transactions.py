"""Transaction routes: list (filters, time range, pagination) and detail with meter values."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from ocpp_backend.api.auth import require_role
from ocpp_backend.api.models import ErrorOut, MeterValueOut, TransactionDetail, TransactionOut
from ocpp_backend.services import Services
from ocpp_backend.services.queries import QueryService
from ocpp_backend.services.sessions import TransactionView


def transaction_out(view: TransactionView) -> TransactionOut:
    """A transaction as the API shows it."""
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


def _utc(value: datetime | None, name: str) -> datetime | None:
    """``value`` in UTC (naive means UTC); 422 for a time that UTC cannot hold (year 1 at +01:00)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} is out of range") from None


def transactions_router(services: Services) -> APIRouter:
    """``/transactions`` routes."""
    router = APIRouter(prefix="/transactions", tags=["transactions"])
    queries = QueryService(services.db, services.meter_data)

    @router.get("", response_model=list[TransactionOut], dependencies=[Depends(require_role("viewer"))])
    async def list_transactions(
        response: Response,
        station_id: str | None = Query(default=None, max_length=48),
        active: bool | None = None,
        since: datetime | None = Query(default=None, description="running at or after this time"),
        until: datetime | None = Query(default=None, description="started before this time"),
        id_tag: str | None = Query(default=None, max_length=20),
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=2**31),
    ) -> list[TransactionOut]:
        """Transactions, newest first; ``since``/``until`` keep those running at some time in the
        range. ``X-Total-Count`` counts every match."""
        since, until = _utc(since, "since"), _utc(until, "until")
        page = await queries.transactions(station_id, active, since, until, id_tag, limit, offset)
        response.headers["X-Total-Count"] = str(page.total)
        return [transaction_out(view) for view in page.items]

    @router.get(
        "/{tx_id}",
        response_model=TransactionDetail,
        responses={404: {"model": ErrorOut}},
        dependencies=[Depends(require_role("viewer"))],
    )
    async def transaction_detail(tx_id: int = Path(ge=1, le=2**31 - 1)) -> TransactionDetail:
        """A transaction with its meter values and energy."""
        view = await services.sessions.get(tx_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"transaction {tx_id} not found")
        return TransactionDetail(
            **transaction_out(view).model_dump(),
            meter_values=[MeterValueOut.model_validate(row) for row in view.meter_values or []],
        )

    return router
