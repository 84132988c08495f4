"""Id token (RFID card) routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response, status

from ocpp_backend.api.auth import require_role
from ocpp_backend.api.models import IdTokenIn, IdTokenOut
from ocpp_backend.services import Services


def id_tokens_router(services: Services) -> APIRouter:
    """``/id-tokens`` routes."""
    router = APIRouter(prefix="/id-tokens", tags=["id tokens"])

    @router.post(
        "",
        response_model=IdTokenOut,
        status_code=status.HTTP_201_CREATED,
        dependencies=[Depends(require_role("operator"))],
    )
    async def put_id_token(body: IdTokenIn) -> IdTokenOut:
        """Register an id token, or update its status if it exists."""
        token = await services.id_tokens.put(body.id_tag, body.status, body.expiry_date, body.parent_id_tag)
        return IdTokenOut.model_validate(token)

    @router.get("", response_model=list[IdTokenOut], dependencies=[Depends(require_role("viewer"))])
    async def list_id_tokens(
        response: Response,
        limit: int = Query(default=1000, ge=1, le=10000),
        offset: int = Query(default=0, ge=0, le=2**31),
    ) -> list[IdTokenOut]:
        """Registered id tokens; ``X-Total-Count`` counts them all."""
        tokens = await services.id_tokens.list()
        response.headers["X-Total-Count"] = str(len(tokens))
        return [IdTokenOut.model_validate(token) for token in tokens[offset : offset + limit]]

    return router
