"""The bus: events out of the backend, commands in to the node that holds a station's socket.

``Bus`` is the interface; ``InProcessBus`` is the default for a single node. A multi-node bus (MQTT)
implements the same methods: ``publish`` fans an event out to every node's subscribers, and
``send_command`` routes a command to whichever node has the station attached and brings the answer
back.

Event kinds published by the backend (``Event.data`` in brackets):

- ``station.connected`` / ``station.disconnected`` / ``station.removed`` ({})
- ``station.boot`` ({vendor, model, serial_number, firmware_version})
- ``connector.status`` ({connector_id, status, error_code, info, vendor_id, vendor_error_code})
- ``alarm.raised`` / ``alarm.cleared`` / ``alarm.acked`` ({id, kind, severity, connector_id, message,
  raised_at, cleared_at, clear_reason, acked_by, comment}; see ``services/alarms.py``)
- ``meter.readings`` ({connector_id, transaction_id, readings: [{timestamp, measurand, phase,
  location, context, unit, value}]})
- ``session.started`` / ``session.stopped`` ({transaction_id, connector_id, id_tag, meter_start_wh,
  meter_stop_wh, energy_wh, reason})
- ``station.notification`` ({action, ...payload}) for firmware/diagnostics status and DataTransfer
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp_backend.timeutil import utc_now

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened at a station."""

    kind: str
    station_id: str
    data: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class Command:
    """A request for a station: an OCPP 1.6 action name and its fields in snake_case
    (the fields of the matching ``ocpp.v16.call`` dataclass)."""

    station_id: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


CommandExecutor = Callable[[Command], Awaitable[dict[str, Any]]]


class CommandError(Exception):
    """A command did not produce an answer from the station."""


class StationOffline(CommandError):
    """No node holds a connection to the station."""


class CommandTimeout(CommandError):
    """The station did not answer in time."""


class CommandRejected(CommandError):
    """The station answered with a CALLERROR (or an answer that failed validation)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class Subscription:
    """A bounded queue of events for one consumer. When the consumer falls behind, the oldest
    events are dropped (``dropped`` counts them) so that publishers never block."""

    def __init__(self, bus: Bus, kinds: frozenset[str] | None, max_queue: int) -> None:
        self._bus = bus
        self.kinds = kinds  # None = every kind
        self.queue: asyncio.Queue[Event] = asyncio.Queue(max_queue)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Queue ``event`` if this subscription wants it (called by the bus)."""
        if self.kinds is not None and event.kind not in self.kinds:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout_s: float | None = None) -> Event:
        """The next event; raises TimeoutError after ``timeout_s``."""
        return await asyncio.wait_for(self.queue.get(), timeout_s)

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus(ABC):
    """Events out, commands in. Implementations must be safe to use from any task of the loop."""

    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber (on every node)."""

    @abstractmethod
    def subscribe(self, kinds: Iterable[str] | None = None, max_queue: int = 1000) -> Subscription:
        """Receive events of ``kinds`` (all kinds when None) from now on."""

    @abstractmethod
    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``."""

    @abstractmethod
    def attach(self, station_id: str, executor: CommandExecutor) -> None:
        """This node now holds the station's connection: commands for it go to ``executor``."""

    @abstractmethod
    def detach(self, station_id: str, executor: CommandExecutor) -> None:
        """The connection that registered ``executor`` is gone (no-op if another one replaced it)."""

    @abstractmethod
    async def send_command(self, command: Command, timeout_s: float) -> dict[str, Any]:
        """Have the station execute ``command``; returns its answer (snake_case fields).

        Raises StationOffline, CommandTimeout or CommandRejected.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to do in-process
        """Release connections to a broker, if any."""


class InProcessBus(Bus):
    """The single-node bus: subscribers and connection holders live in this process."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._executors: dict[str, CommandExecutor] = {}

    async def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    def subscribe(self, kinds: Iterable[str] | None = None, max_queue: int = 1000) -> Subscription:
        subscription = Subscription(self, frozenset(kinds) if kinds is not None else None, max_queue)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def attach(self, station_id: str, executor: CommandExecutor) -> None:
        self._executors[station_id] = executor

    def detach(self, station_id: str, executor: CommandExecutor) -> None:
        if self._executors.get(station_id) == executor:
            del self._executors[station_id]

    def attached(self, station_id: str) -> bool:
        """True when a connection of this node holds the station."""
        return station_id in self._executors

    async def send_command(self, command: Command, timeout_s: float) -> dict[str, Any]:
        executor = self._executors.get(command.station_id)
        if executor is None:
            raise StationOffline(f"station {command.station_id} is not connected")
        try:
            async with asyncio.timeout(timeout_s):  # no extra task per command, unlike wait_for
                return await executor(command)
        except TimeoutError:
            raise CommandTimeout(
                f"station {command.station_id} did not answer {command.action} within {timeout_s:g} s"
            ) from None
