"""One connected station: OCPP 1.6 handlers (wire ↔ domain, rules in the services) and the
executor for commands the bus routes to this connection."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from ocpp import exceptions as ocpp_errors
from ocpp.exceptions import InternalError, NotSupportedError, OCPPError, ProtocolError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, DataTransferStatus
from websockets.exceptions import ConnectionClosed

from ocpp_backend.bus import Command, CommandRejected, Event, StationOffline
from ocpp_backend.logging_setup import station_context
from ocpp_backend.services import Services
from ocpp_backend.services.meter_data import MalformedHeaterReport
from ocpp_backend.services.registry import BootInfo, ConnectorStatus
from ocpp_backend.services.sessions import StartRequest, StopRequest
from ocpp_backend.timeutil import format_ocpp_time, utc_now

from . import outbound
from .wire import id_tag_info_to_wire, readings_from_wire, time_from_wire

LOG = logging.getLogger(__name__)

# OCPP-J 1.6 spells two error codes differently from later versions (and from the library).
_OCPP16_ERROR_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
_V16_ACTIONS = frozenset(action.value for action in Action)
# The uniqueId of a frame too broken to parse, if it can still be read.
_UNIQUE_ID_RE = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')  # a truncated CALL
UNPARSABLE_UNIQUE_ID = "-1"


def ocpp16_error_frame(frame: str) -> str:
    """Rewrite the error code of a CALLERROR frame to its OCPP 1.6 spelling."""
    message = json.loads(frame)
    message[2] = _OCPP16_ERROR_CODES.get(message[2], message[2])
    return json.dumps(message, separators=(",", ":"))


class StationConnection(ChargePoint):
    """The central system's side of one station's WebSocket (OCPP 1.6J)."""

    def __init__(self, station_id: str, connection: Any, services: Services) -> None:
        settings = services.settings
        # The bus bounds each command by its own timeout; this one only stops a lost answer from
        # holding the call lock forever.
        super().__init__(station_id, connection, response_timeout=max(60.0, 4 * settings.command_timeout_s))
        self._services = services
        self.connected_at = utc_now()
        # Answers to our CALLs, by unique id: routed straight to the waiting command (no queue,
        # no extra task per command as the library's call() makes).
        self._pending: dict[str, asyncio.Future[Any]] = {}

    # -- framing --------------------------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Route one frame. Unlike the library, answer unparsable frames and unknown actions with
        the right CALLERROR, and never let one bad frame end the connection."""
        try:
            await self._services.registry.touch(self.id)
        except Exception:  # noqa: BLE001 - a failed last_seen write must not drop the message
            LOG.exception("%s: could not update last_seen", self.id)
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            await self._answer_unparsable(raw_msg, error)
            return
        if msg.message_type_id != MessageType.Call:
            # (the library's own response queue is not used: nothing here calls its call())
            waiter = self._pending.pop(msg.unique_id, None) if isinstance(msg.unique_id, str) else None
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(msg)
            else:
                LOG.warning("%s: dropping unsolicited answer %s", self.id, str(raw_msg)[:200])
            return
        try:
            if not isinstance(msg.unique_id, str) or not 1 <= len(msg.unique_id) <= 36:
                msg.unique_id = str(msg.unique_id)[:36]
                raise ProtocolError(description="uniqueId must be a string of 1 to 36 characters")
            if not isinstance(msg.action, str) or msg.action not in _V16_ACTIONS:
                raise ocpp_errors.NotImplementedError(description=f"unknown action {str(msg.action)[:64]!r}")
            if msg.action not in self.route_map:
                raise NotSupportedError(description=f"{msg.action} is not sent by a charge point")
            with self._services.metrics.handler_timer(msg.action):
                await self._handle_call(msg)
        except OCPPError as error:
            await self._send(msg.create_call_error(error).to_json())
        except Exception as error:  # noqa: BLE001 - answered as InternalError, connection stays up
            LOG.exception("%s: failed to handle %s", self.id, msg)
            await self._send(msg.create_call_error(InternalError(description=str(error)[:200])).to_json())

    async def _answer_unparsable(self, raw_msg: str | bytes, error: OCPPError) -> None:
        text = raw_msg.decode("utf-8", "replace") if isinstance(raw_msg, bytes) else raw_msg
        LOG.warning("%s: malformed frame (%s): %s", self.id, error.code, text[:200])
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if (
            isinstance(parsed, list)
            and parsed
            and parsed[0] in (MessageType.CallResult, MessageType.CallError)
        ):
            return  # never answer an answer
        if isinstance(parsed, list) and len(parsed) > 1 and isinstance(parsed[1], str):
            unique_id = parsed[1][:36]
        else:
            match = _UNIQUE_ID_RE.match(text)
            unique_id = match.group(1) if match else UNPARSABLE_UNIQUE_ID
        frame = json.dumps(
            [MessageType.CallError, unique_id, error.code, error.description, error.details or {}],
            separators=(",", ":"),
            default=str,
        )
        await self._send(frame)

    async def _send(self, message: str) -> None:
        if message.startswith("[4,"):
            message = ocpp16_error_frame(message)
        await super()._send(message)

    def connection_lost(self) -> None:
        """The socket closed: commands still waiting for an answer fail now, not at their timeout."""
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionClosed(None, None))
        self._pending.clear()

    @property
    def remote_address(self) -> str | None:
        """``host:port`` of the station's end of the socket."""
        address = getattr(self._connection, "remote_address", None)
        return f"{address[0]}:{address[1]}" if address else None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket."""
        await self._connection.close(code, reason)

    # -- commands (central system → station) ----------------------------------------------------

    async def execute(self, command: Command) -> dict[str, Any]:
        """Send ``command`` as an OCPP CALL and return the station's answer (snake_case; every
        field of the response type, ``None`` where absent).

        Raises ValueError for a command that is not a valid OCPP 1.6 request, CommandRejected
        for a CALLERROR or an invalid answer, StationOffline if the connection closes.
        The wire work is ``outbound``'s (not the library's ``call``): see there why.
        """
        try:
            camel = outbound.request_payload(command.action, command.payload)
        except outbound.InvalidRequest as error:
            raise ValueError(str(error)) from None
        unique_id = outbound.next_unique_id()
        with station_context(self.id), self._services.metrics.command_timer(command.action):
            async with self._call_lock:  # OCPP-J: one outstanding CALL per direction
                answer = asyncio.get_running_loop().create_future()
                self._pending[unique_id] = answer
                try:
                    await self._send(outbound.call_frame(unique_id, command.action, camel))
                    async with asyncio.timeout(self._response_timeout):
                        response = await answer
                except ConnectionClosed:
                    raise StationOffline(f"connection to {self.id} closed before it answered") from None
                finally:
                    self._pending.pop(unique_id, None)
            if response.message_type_id == MessageType.CallError:
                raise CommandRejected(str(response.error_code), str(response.error_description))
            try:
                return outbound.answer_payload(command.action, response.payload)
            except outbound.InvalidAnswer as error:
                raise CommandRejected("InvalidAnswer", str(error)) from None

    # -- station → central system ---------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str | None = None,
        charge_box_serial_number: str | None = None,
        firmware_version: str | None = None,
        **_other: Any,
    ) -> call_result.BootNotification:
        boot = BootInfo(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=charge_point_serial_number or charge_box_serial_number,
            firmware_version=firmware_version,
        )
        status = await self._services.registry.record_boot(self.id, boot)
        return call_result.BootNotification(
            current_time=format_ocpp_time(utc_now()),
            interval=self._services.settings.heartbeat_s,
            status=status,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=format_ocpp_time(utc_now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        info: str | None = None,
        vendor_id: str | None = None,
        vendor_error_code: str | None = None,
    ) -> call_result.StatusNotification:
        report = ConnectorStatus(
            connector_id=connector_id,
            status=status,
            error_code=error_code,
            timestamp=time_from_wire(timestamp, "timestamp") if timestamp else utc_now(),
            info=info,
            vendor_id=vendor_id,
            vendor_error_code=vendor_error_code,
        )
        await self._services.registry.record_status(self.id, report)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        authorization = await self._services.id_tokens.authorize(id_tag)
        return call_result.Authorize(id_tag_info=id_tag_info_to_wire(authorization))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> call_result.StartTransaction:
        authorization = await self._services.id_tokens.authorize(id_tag)
        # The transaction is recorded whatever the tag's status: the station reports what
        # happened, and stops the session itself if the tag is not accepted.
        transaction, _created = await self._services.sessions.start(
            StartRequest(
                station_id=self.id,
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start_wh=meter_start,
                start_time=time_from_wire(timestamp, "timestamp"),
                reservation_id=reservation_id,
            )
        )
        return call_result.StartTransaction(
            transaction_id=transaction.id, id_tag_info=id_tag_info_to_wire(authorization)
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> call_result.StopTransaction:
        readings = readings_from_wire(transaction_data or [])
        await self._services.sessions.stop(
            StopRequest(
                station_id=self.id,
                transaction_id=transaction_id,
                meter_stop_wh=meter_stop,
                stop_time=time_from_wire(timestamp, "timestamp"),
                reason=reason,
                id_tag=id_tag,
                readings=[(0, reading) for reading in readings],
            )
        )
        # A Stop is always accepted (even a replay or an unknown id): refusing it would keep it
        # in the station's journal forever.
        id_tag_info = None
        if id_tag is not None:
            id_tag_info = id_tag_info_to_wire(await self._services.id_tokens.authorize(id_tag))
        return call_result.StopTransaction(id_tag_info=id_tag_info)

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None = None
    ) -> call_result.MeterValues:
        readings = readings_from_wire(meter_value)
        await self._services.meter_data.record(self.id, connector_id, transaction_id, readings)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        # Frostgrid's own messages (heater reports, journal backlog: docs/interfaces.md) are always known.
        known = vendor_id in self._services.settings.known_vendors or vendor_id == "Frostgrid"
        status = DataTransferStatus.accepted if known else DataTransferStatus.unknown_vendor_id
        if vendor_id == "Frostgrid" and message_id == "Heater":
            try:
                await self._services.meter_data.record_heater_report(self.id, data, utc_now())
            except MalformedHeaterReport as error:
                LOG.warning("%s: heater report rejected: %s", self.id, error)
                status = DataTransferStatus.rejected
        await self._notify(
            "DataTransfer",
            vendor_id=vendor_id,
            message_id=message_id,
            data=data,
            known=known,
            status=status.value,
        )
        return call_result.DataTransfer(status=status)

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str) -> call_result.FirmwareStatusNotification:
        await self._notify("FirmwareStatusNotification", status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
        self, status: str
    ) -> call_result.DiagnosticsStatusNotification:
        await self._notify("DiagnosticsStatusNotification", status=status)
        return call_result.DiagnosticsStatusNotification()

    async def _notify(self, action: str, **data: Any) -> None:
        await self._services.bus.publish(Event("station.notification", self.id, {"action": action, **data}))
