"""Admin routes: users and API tokens (the same rules as ``frostgrid user|token``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from ocpp_backend.api.auth import Principal, require_role
from ocpp_backend.api.models import (
    ErrorOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserRoleIn,
)
from ocpp_backend.services import Services
from ocpp_backend.users import LastAdmin, UnknownToken, UnknownUser, UserExists


def admin_router(services: Services) -> APIRouter:
    """``/users`` and ``/tokens`` routes, admin only."""
    router = APIRouter(tags=["access"], dependencies=[Depends(require_role("admin"))])
    access = services.access

    @router.get("/users", response_model=list[UserOut])
    async def list_users() -> list[UserOut]:
        """Every user and their role."""
        return [UserOut.model_validate(user) for user in await access.list_users()]

    @router.post(
        "/users",
        response_model=UserOut,
        status_code=status.HTTP_201_CREATED,
        responses={409: {"model": ErrorOut, "description": "User exists"}},
    )
    async def add_user(body: UserCreate) -> UserOut:
        """Create a user with a password (stored as an argon2id hash) and a role."""
        try:
            user = await access.add_user(body.username, body.password, body.role)
        except UserExists:
            raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username} already exists") from None
        return UserOut.model_validate(user)

    @router.patch(
        "/users/{username}",
        response_model=UserOut,
        responses={
            404: {"model": ErrorOut, "description": "No such user"},
            409: {"model": ErrorOut, "description": "The last admin would lose the role"},
        },
    )
    async def change_role(body: UserRoleIn, username: str = Path(max_length=64)) -> UserOut:
        """Change a user's role; it applies from their next request (their sessions stay open).
        The last user with the admin role keeps it."""
        try:
            user = await access.set_role(username, body.role)
        except UnknownUser:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}") from None
        except LastAdmin:
            raise _last_admin(username) from None
        return UserOut.model_validate(user)

    @router.delete(
        "/users/{username}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={
            404: {"model": ErrorOut},
            409: {"model": ErrorOut, "description": "The caller, or the last admin"},
        },
    )
    async def remove_user(
        username: str = Path(max_length=64),
        principal: Principal = Depends(require_role("admin")),
    ) -> Response:
        """Delete a user and end their sessions (an admin cannot delete their own account)."""
        if principal.kind == "user" and principal.name == username:
            raise HTTPException(status.HTTP_409_CONFLICT, "you cannot remove yourself")
        try:
            await access.remove_user(username)
        except UnknownUser:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}") from None
        except LastAdmin:
            raise _last_admin(username) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/tokens", response_model=list[TokenOut])
    async def list_tokens(include_revoked: bool = False) -> list[TokenOut]:
        """API tokens (never their secrets)."""
        return [TokenOut.model_validate(token) for token in await access.list_tokens(include_revoked)]

    @router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
    async def create_token(body: TokenCreate) -> TokenCreated:
        """Create an API token; the token is in this answer only (the store keeps its SHA-256)."""
        created = await access.create_token(body.role, body.name)
        row = next(t for t in await access.list_tokens() if t.id == created.id)
        return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=created.token)

    @router.delete(
        "/tokens/{token_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut, "description": "The caller's token"}},
    )
    async def revoke_token(
        token_id: int = Path(ge=1, le=2**31 - 1),
        principal: Principal = Depends(require_role("admin")),
    ) -> Response:
        """Revoke an API token: it stops authenticating at once (not the token making the call)."""
        if principal.token_id == token_id:
            raise HTTPException(status.HTTP_409_CONFLICT, "a token cannot revoke itself")
        try:
            await access.revoke_token(token_id)
        except UnknownToken:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active token {token_id}") from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _last_admin(username: str) -> HTTPException:
    """409 for a change that would leave no user with the admin role."""
    detail = f"{username} is the last admin: make another user admin first"
    return HTTPException(status.HTTP_409_CONFLICT, detail)
