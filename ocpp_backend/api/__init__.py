"""The operator REST API (FastAPI) under ``/api/v1/``."""

from ocpp_backend.api.app import create_app

__all__ = ["create_app"]
