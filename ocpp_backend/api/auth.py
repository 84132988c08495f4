"""Who may call what: authentication (session cookie + CSRF, or bearer token) and role checks.

Every route states its role with a dependency::

    @router.get("/things", dependencies=[Depends(require_role("viewer"))])
    async def things(principal: Principal = Depends(require_role("operator"))): ...

``require_role(*roles)`` admits each role listed and every role above it in the chain
viewer < operator < admin; ``dispatcher`` stands apart (``require_role("dispatcher", "admin")``
for the dispatch routes). Unauthenticated → 401, authenticated with a role not admitted → 403,
cookie-authenticated state change without the right ``X-CSRF-Token`` → 403.
The contract is in docs/interfaces.md ("Operator API access").
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from ocpp_backend.users import AccessService, Principal, TooManyAttempts

__all__ = [
    "ANY_ROLE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "PUBLIC_ROUTES",
    "Principal",
    "RoleRequirement",
    "SESSION_COOKIE",
    "UnlessPublicMetrics",
    "api_routes",
    "auth_router",
    "require_role",
    "route_roles",
]

SESSION_COOKIE = "fg_session"
CSRF_COOKIE = "fg_csrf"
CSRF_HEADER = "X-CSRF-Token"
ROLE_CHAIN = ("viewer", "operator", "admin")  # each role may do what those before it may
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes anyone may call (method, path); every other route of the OpenAPI must carry a role.
PUBLIC_ROUTES = frozenset({("GET", "/healthz"), ("GET", "/api/v1/healthz"), ("POST", "/api/v1/auth/login")})

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fgt_...`.")
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The session cookie set by POST /api/v1/auth/login (state changes also need X-CSRF-Token).",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _access(request: Request) -> AccessService:
    return request.app.state.access


async def authenticate(
    request: Request, bearer: HTTPAuthorizationCredentials | None, session_secret: str | None
) -> Principal:
    """The principal of a request (cached on it), or 401. Checks CSRF for cookie sessions."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    access = _access(request)
    if bearer is not None:
        principal = await access.token_principal(bearer.credentials)
        if principal is None:
            raise _unauthorized("unknown or revoked API token")
    elif session_secret:
        principal = await access.session_principal(session_secret)
        if principal is None:
            raise _unauthorized("session expired or logged out")
        if request.method not in SAFE_METHODS:
            # Compared as bytes: compare_digest refuses str with non-ASCII characters.
            sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "surrogateescape")
            expected = (principal.csrf_token or "").encode("utf-8")
            if not expected or not hmac.compare_digest(sent, expected):
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    else:
        raise _unauthorized("log in (POST /api/v1/auth/login) or send Authorization: Bearer <token>")
    request.state.principal = principal
    return principal


class RoleRequirement:
    """A FastAPI dependency admitting the roles in ``admitted``; returns the Principal."""

    def __init__(self, admitted: frozenset[str]) -> None:
        self.admitted = admitted

    async def __call__(
        self,
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        session_secret: str | None = Depends(_session_cookie),
    ) -> Principal:
        principal = await authenticate(request, bearer, session_secret)
        if principal.role not in self.admitted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this (needs {self.describe()})"
            )
        return principal

    def describe(self) -> str:
        """The admitted roles, in a stable order, for messages and the OpenAPI description."""
        return ", ".join(sorted(self.admitted))

    def __repr__(self) -> str:
        return f"RoleRequirement({self.describe()})"


def require_role(*roles: str) -> RoleRequirement:
    """A dependency admitting ``roles`` and every role above each of them in viewer < operator < admin."""
    admitted: set[str] = set()
    for role in roles:
        if role in ROLE_CHAIN:
            admitted.update(ROLE_CHAIN[ROLE_CHAIN.index(role) :])
        elif role == "dispatcher":
            admitted.add(role)
        else:
            raise ValueError(f"unknown role {role!r}")
    return RoleRequirement(frozenset(admitted))


ANY_ROLE = require_role("viewer", "dispatcher")


class UnlessPublicMetrics(RoleRequirement):
    """Like ``require_role("viewer")``, but admits anyone when ``Settings.metrics_public`` is set
    (a Prometheus on a trusted network may then scrape without a token)."""

    def __init__(self) -> None:
        super().__init__(require_role("viewer").admitted)

    async def __call__(
        self,
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        session_secret: str | None = Depends(_session_cookie),
    ) -> Principal | None:  # type: ignore[override]
        if request.app.state.settings.metrics_public:
            return None
        return await super().__call__(request, bearer, session_secret)


def api_routes(app: FastAPI) -> list[Any]:
    """Every API route of ``app`` with its full path, routers included (FastAPI ≥ 0.16x keeps
    included routers as lazy entries, which ``iter_route_contexts`` unfolds)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies routes into app.routes
        candidates: list[Any] = list(app.routes)
    else:
        candidates = list(iter_route_contexts(app.routes))
    return [route for route in candidates if getattr(route, "dependant", None) is not None]


def route_roles(route: APIRoute | Any) -> frozenset[str] | None:
    """The roles a route admits (the intersection if it has several requirements); None if none."""
    found: frozenset[str] | None = None
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleRequirement):
            found = dependant.call.admitted if found is None else found & dependant.call.admitted
        stack.extend(dependant.dependencies)
    return found


def document_roles(app: FastAPI) -> None:
    """Have the OpenAPI description say, per operation, which roles it admits (``x-roles``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI caches it, and rebuilds it when routes are added
        if schema.get("x-roles-documented"):
            return schema
        for route in api_routes(app):
            if not getattr(route, "include_in_schema", True):
                continue
            roles = route_roles(route)
            for method in route.methods:
                operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                operation["x-roles"] = sorted(roles) if roles is not None else []
                if roles is not None:
                    operation["description"] = (
                        operation.get("description", "") + f"\n\nRoles: {', '.join(sorted(roles))}."
                    ).strip()
        schema["x-roles-documented"] = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- login, logout, me ---------------------------------------------------------------------------


class LoginIn(BaseModel):
    """Credentials of a user."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    """A session opened; ``csrf_token`` goes into ``X-CSRF-Token`` of every state change."""

    username: str
    role: str
    csrf_token: str


class MeOut(BaseModel):
    """The caller: a user (session) or a machine (token); ``csrf_token`` only for sessions."""

    username: str
    role: str
    kind: str
    csrf_token: str | None = None


def auth_router() -> APIRouter:
    """``/auth/login``, ``/auth/logout``, ``/auth/me`` (mount under ``/api/v1``)."""
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post(
        "/login",
        response_model=LoginOut,
        responses={
            401: {"description": "Unknown user or wrong password"},
            429: {"description": "Too many failed logins for this user name lately"},
        },
    )
    async def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        """Check a user's password, open a session and set the ``fg_session`` and ``fg_csrf`` cookies."""
        try:
            opened = await _access(request).login(body.username, body.password)
        except TooManyAttempts as error:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                str(error),
                headers={"Retry-After": str(error.retry_after_s)},
            ) from None
        if opened is None:
            raise _unauthorized("unknown user or wrong password")
        settings = request.app.state.settings
        common: dict[str, Any] = {
            "path": "/",
            "samesite": "strict",
            "secure": settings.secure_cookies,
            "max_age": int(settings.session_max_s),
        }
        response.set_cookie(SESSION_COOKIE, opened.secret, httponly=True, **common)
        response.set_cookie(CSRF_COOKIE, opened.csrf_token, httponly=False, **common)
        return LoginOut(username=opened.username, role=opened.role, csrf_token=opened.csrf_token)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(request: Request, _principal: Principal = Depends(ANY_ROLE)) -> Response:
        """End the session of the cookie (a no-op for bearer tokens) and clear both cookies."""
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            await _access(request).logout(secret)
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        response.delete_cookie(SESSION_COOKIE, path="/", samesite="strict", httponly=True)
        response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
        return response

    @router.get("/me", response_model=MeOut)
    async def me(principal: Principal = Depends(ANY_ROLE)) -> MeOut:
        """Who the caller is."""
        return MeOut(
            username=principal.name, role=principal.role, kind=principal.kind, csrf_token=principal.csrf_token
        )

    return router
