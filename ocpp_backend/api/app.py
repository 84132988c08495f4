"""FastAPI application: thin routes over the services (same services as the OCPP handlers).

Every route states the role it needs (``ocpp_backend/api/auth.py``); routers live one concept a
file and are included here.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Response

from ocpp_backend.api.admin import admin_router
from ocpp_backend.api.alarms import alarms_router
from ocpp_backend.api.auth import UnlessPublicMetrics, auth_router, document_roles, require_role
from ocpp_backend.api.commands import commands_router
from ocpp_backend.api.dispatch import dispatch_router
from ocpp_backend.api.events import events_router
from ocpp_backend.api.id_tokens import id_tokens_router
from ocpp_backend.api.models import Health
from ocpp_backend.api.stations import ConnectionInfo, stations_router
from ocpp_backend.api.transactions import transactions_router
from ocpp_backend.dashboard import mount_dashboard
from ocpp_backend.metrics import CONTENT_TYPE
from ocpp_backend.services import Services

__all__ = ["ConnectionInfo", "create_app"]


def create_app(services: Services, connections: ConnectionInfo | None = None) -> FastAPI:
    """The API over ``services``; ``connections`` (the OCPP server) adds live socket details."""
    app = FastAPI(
        title="Frostgrid backend",
        version="0.2.0",
        description=(
            "Central system of Frostgrid: stations, sessions, meter data, alarms and commands. "
            "Log in with POST /api/v1/auth/login (cookie session; state changes carry X-CSRF-Token) "
            "or send `Authorization: Bearer <API token>`. Each operation lists the roles it admits."
        ),
    )
    app.state.services = services
    app.state.access = services.access
    app.state.settings = services.settings
    api = APIRouter(prefix="/api/v1")

    async def health() -> Health:
        connected = len(connections.connected_ids) if connections is not None else 0
        return Health(status="ok", stations_connected=connected)

    # Liveness probes carry no credentials: health stays public (it tells only a count).
    app.get("/healthz", response_model=Health, tags=["health"])(health)
    api.get("/healthz", response_model=Health, tags=["health"])(health)

    metrics = services.metrics
    if connections is not None:
        metrics.count_connections(lambda: len(connections.connected_ids))

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
        dependencies=[Depends(UnlessPublicMetrics())],
    )
    async def prometheus_metrics() -> Response:
        """Prometheus metrics of this node (viewer role or higher unless ``metrics_public``)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    api.include_router(auth_router())
    api.include_router(stations_router(services, connections))
    api.include_router(commands_router(services))
    api.include_router(transactions_router(services))
    api.include_router(id_tokens_router(services))
    api.include_router(admin_router(services))
    api.include_router(alarms_router(services))
    api.include_router(dispatch_router())  # V2G dispatch: app.state.dispatcher is set by the backend
    app.include_router(api)
    app.include_router(events_router(services), dependencies=[Depends(require_role("viewer"))])
    mount_dashboard(app)
    document_roles(app)
    return app
