"""A CPython charge point built on the ``ocpp`` library, used as the client in backend tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action


def basic_auth(user: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class SimChargePoint(ChargePoint):
    """Answers every command the central system may send and records what it received.

    ``answers`` overrides the status answered per action; with ``mute`` set, incoming CALLs are
    swallowed without an answer (a station that never responds).
    """

    def __init__(
        self, station_id: str, connection: Any, answers: dict[str, str] | None = None, mute: bool = False
    ) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.answers = answers or {}
        self.mute = mute
        self.received: list[tuple[str, dict[str, Any]]] = []  # (action, snake_case payload)
        self.received_event = asyncio.Event()
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}

    async def route_message(self, raw_msg: str) -> None:
        if self.mute and raw_msg.lstrip().startswith("[2"):
            return
        await super().route_message(raw_msg)

    def _got(self, action: str, payload: dict[str, Any]) -> str:
        self.received.append((action, payload))
        self.received_event.set()
        return self.answers.get(action, "Accepted")

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **payload: Any) -> call_result.RemoteStartTransaction:
        return call_result.RemoteStartTransaction(status=self._got("RemoteStartTransaction", payload))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **payload: Any) -> call_result.RemoteStopTransaction:
        return call_result.RemoteStopTransaction(status=self._got("RemoteStopTransaction", payload))

    @on(Action.reset)
    def on_reset(self, **payload: Any) -> call_result.Reset:
        return call_result.Reset(status=self._got("Reset", payload))

    @on(Action.unlock_connector)
    def on_unlock(self, **payload: Any) -> call_result.UnlockConnector:
        self.answers.setdefault("UnlockConnector", "Unlocked")
        return call_result.UnlockConnector(status=self._got("UnlockConnector", payload))

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        self._got("GetConfiguration", {"key": key})
        wanted = key or list(self.configuration)
        known = [k for k in wanted if k in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": self.configuration[k]} for k in known],
            unknown_key=[k for k in wanted if k not in self.configuration] or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        status = self._got("ChangeConfiguration", {"key": key, "value": value})
        if key not in self.configuration:
            return call_result.ChangeConfiguration(status="NotSupported")
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status=status)

    @on(Action.change_availability)
    def on_change_availability(self, **payload: Any) -> call_result.ChangeAvailability:
        return call_result.ChangeAvailability(status=self._got("ChangeAvailability", payload))

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        return call_result.ClearCache(status=self._got("ClearCache", {}))

    @on(Action.trigger_message)
    def on_trigger_message(self, **payload: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(status=self._got("TriggerMessage", payload))

    @on(Action.send_local_list)
    def on_send_local_list(self, **payload: Any) -> call_result.SendLocalList:
        return call_result.SendLocalList(status=self._got("SendLocalList", payload))

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        self._got("GetLocalListVersion", {})
        return call_result.GetLocalListVersion(list_version=7)

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=self._got("DataTransfer", payload), data="pong")


@asynccontextmanager
async def open_station(
    ocpp_url: str,
    station_id: str,
    password: str,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
    station_class: type[SimChargePoint] = SimChargePoint,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """Connect a ``station_class`` station to ``ocpp_url/station_id`` and run its receive loop."""
    ws = await websockets.connect(
        f"{ocpp_url}/{station_id}",
        subprotocols=list(subprotocols),
        additional_headers={"Authorization": basic_auth(station_id, password)},
        open_timeout=10,
    )
    cp = station_class(station_id, ws, **kwargs)
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        await ws.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@asynccontextmanager
async def raw_socket(ocpp_url: str, station_id: str, password: str) -> AsyncIterator[Any]:
    """A bare WebSocket to the backend, for sending frames the ocpp library would never send."""
    ws = await websockets.connect(
        f"{ocpp_url}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": basic_auth(station_id, password)},
        open_timeout=10,
    )
    try:
        yield ws
    finally:
        await ws.close()
