"""Station command routes: each sends one OCPP 1.6 CALL and returns the station's answer.

Failures: 404 unknown station, 409 not connected, 504 no answer within the command timeout,
502 the station answered with a CALLERROR (its code in ``detail.error_code``), 422 bad input.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, status

from ocpp_backend.api.auth import require_role
from ocpp_backend.api.models import (
    AvailabilityIn,
    ConfigurationAnswer,
    ConfigurationChangeIn,
    DataTransferAnswer,
    DataTransferIn,
    ErrorOut,
    LocalListIn,
    LocalListVersionAnswer,
    RemoteStartIn,
    RemoteStopIn,
    ResetIn,
    StatusAnswer,
    TriggerIn,
    UnlockIn,
)
from ocpp_backend.bus import CommandRejected, CommandTimeout, StationOffline
from ocpp_backend.services import Services
from ocpp_backend.services.registry import UnknownStation

T = TypeVar("T")

COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown station"},
    409: {"model": ErrorOut, "description": "Station not connected"},
    502: {"model": ErrorOut, "description": "Station answered with a CALLERROR"},
    504: {"model": ErrorOut, "description": "Station did not answer in time"},
}


async def run_command(station_id: str, answer: Awaitable[T]) -> T:
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


def commands_router(services: Services) -> APIRouter:
    """``/stations/{station_id}/<command>`` routes."""
    router = APIRouter(prefix="/stations/{station_id}", tags=["commands"], responses=COMMAND_ERRORS)
    commands = services.commands
    operator = [Depends(require_role("operator"))]
    admin = [Depends(require_role("admin"))]

    @router.post("/remote-start", response_model=StatusAnswer, dependencies=operator)
    async def remote_start(station_id: str, body: RemoteStartIn) -> StatusAnswer:
        """RemoteStartTransaction: the station's answer."""
        answer = await run_command(
            station_id, commands.remote_start(station_id, body.id_tag, body.connector_id)
        )
        return StatusAnswer(**answer)

    @router.post("/remote-stop", response_model=StatusAnswer, dependencies=operator)
    async def remote_stop(station_id: str, body: RemoteStopIn) -> StatusAnswer:
        """RemoteStopTransaction: the station's answer."""
        return StatusAnswer(
            **await run_command(station_id, commands.remote_stop(station_id, body.transaction_id))
        )

    @router.post("/reset", response_model=StatusAnswer, dependencies=operator)
    async def reset(station_id: str, body: ResetIn) -> StatusAnswer:
        """Reset (Soft or Hard): the station's answer."""
        return StatusAnswer(**await run_command(station_id, commands.reset(station_id, body.type)))

    @router.post("/unlock", response_model=StatusAnswer, dependencies=operator)
    async def unlock(station_id: str, body: UnlockIn) -> StatusAnswer:
        """UnlockConnector: the station's answer."""
        return StatusAnswer(**await run_command(station_id, commands.unlock(station_id, body.connector_id)))

    @router.post("/availability", response_model=StatusAnswer, dependencies=operator)
    async def change_availability(station_id: str, body: AvailabilityIn) -> StatusAnswer:
        """ChangeAvailability (connector 0: the whole station): the station's answer
        (``Accepted``, ``Rejected`` or ``Scheduled``)."""
        return StatusAnswer(
            **await run_command(
                station_id, commands.change_availability(station_id, body.connector_id, body.type)
            )
        )

    @router.post("/clear-cache", response_model=StatusAnswer, dependencies=operator)
    async def clear_cache(station_id: str) -> StatusAnswer:
        """ClearCache (the station's authorization cache): the station's answer."""
        return StatusAnswer(**await run_command(station_id, commands.clear_cache(station_id)))

    @router.post("/trigger", response_model=StatusAnswer, dependencies=operator)
    async def trigger_message(station_id: str, body: TriggerIn) -> StatusAnswer:
        """TriggerMessage: the station's answer; the triggered message arrives on its own."""
        return StatusAnswer(
            **await run_command(
                station_id, commands.trigger_message(station_id, body.requested_message, body.connector_id)
            )
        )

    @router.post("/local-list", response_model=StatusAnswer, dependencies=operator)
    async def send_local_list(station_id: str, body: LocalListIn) -> StatusAnswer:
        """SendLocalList: the station's answer (``Accepted``, ``Failed``, ``NotSupported``,
        ``VersionMismatch``)."""
        entries = [entry.model_dump(exclude_none=True, mode="json") for entry in body.entries]
        answer = await run_command(
            station_id, commands.send_local_list(station_id, body.list_version, body.update_type, entries)
        )
        return StatusAnswer(**answer)

    @router.get("/local-list/version", response_model=LocalListVersionAnswer, dependencies=operator)
    async def get_local_list_version(station_id: str) -> LocalListVersionAnswer:
        """GetLocalListVersion: the station's answer."""
        return LocalListVersionAnswer(
            **await run_command(station_id, commands.get_local_list_version(station_id))
        )

    @router.post("/data-transfer", response_model=DataTransferAnswer, dependencies=operator)
    async def data_transfer(station_id: str, body: DataTransferIn) -> DataTransferAnswer:
        """DataTransfer to the station: its answer (``Accepted``, ``Rejected``,
        ``UnknownMessageId``, ``UnknownVendorId``) and data."""
        answer = await run_command(
            station_id, commands.data_transfer(station_id, body.vendor_id, body.message_id, body.data)
        )
        return DataTransferAnswer(status=answer["status"], data=answer.get("data"))

    @router.get("/configuration", response_model=ConfigurationAnswer, dependencies=operator)
    async def get_configuration(
        station_id: str,
        key: list[str] | None = Query(default=None, description="keys to read; all if none"),
    ) -> ConfigurationAnswer:
        """GetConfiguration: the station's answer."""
        answer = await run_command(station_id, commands.get_configuration(station_id, key))
        return ConfigurationAnswer(
            configuration_key=answer.get("configuration_key") or [],
            unknown_key=answer.get("unknown_key") or [],
        )

    @router.put("/configuration", response_model=StatusAnswer, dependencies=admin)
    async def change_configuration(station_id: str, body: ConfigurationChangeIn) -> StatusAnswer:
        """ChangeConfiguration: the station's answer."""
        return StatusAnswer(
            **await run_command(station_id, commands.change_configuration(station_id, body.key, body.value))
        )

    return router
