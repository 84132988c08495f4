"""The bus between processes: the same ``Bus`` interface over an MQTT broker (aiomqtt).

Used when several backend nodes share the load, and between the grid gateway and the backend when
they run as separate processes. Topics under ``prefix`` (default ``frostgrid/bus``):

- ``{prefix}/event/{kind}``: every event, JSON ``{"node", "kind", "station_id", "data", "time"}``.
  A node delivers its own events to its local subscribers at once and ignores their echo.
- ``{prefix}/cmd/{station_id}``: a command for a station held by another node, JSON
  ``{"node", "uid", "action", "payload", "timeout_s"}``. The node holding the station answers
  ``{"claim": true}`` at once and then ``{"result": {...}}`` or ``{"error": kind, "code", "description"}``
  on ``{prefix}/reply/{asking node}/{uid}``. Without a claim within ``claim_s`` the station is
  offline everywhere (``StationOffline``).

QoS 1 throughout; broker access is the ``bus_users`` grant of ``gateway.mosquitto``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from ocpp_backend.bus import (
    Bus,
    Command,
    CommandExecutor,
    CommandRejected,
    CommandTimeout,
    Event,
    InProcessBus,
    StationOffline,
    Subscription,
)
from ocpp_backend.timeutil import parse_ocpp_time

LOG = logging.getLogger(__name__)


class MqttBus(Bus):
    """``await bus.start()`` before use (returns once subscribed); ``await bus.close()`` after."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        prefix: str = "frostgrid/bus",
        node_id: str | None = None,
        claim_s: float = 1.0,
    ) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password
        self.prefix = prefix.rstrip("/")
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.claim_s = claim_s
        self._local = InProcessBus()  # local subscribers and the stations this node holds
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, node_id: str | None = None) -> MqttBus:
        """``mqtt://user:password@host:port/topic/prefix`` (prefix default ``frostgrid/bus``)."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt":
            raise ValueError(f"bus URL must start with mqtt://, not {url!r}")
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            parts.path.strip("/") or "frostgrid/bus",
            node_id,
        )

    async def start(self) -> None:
        """Connect and subscribe (in a background task that reconnects after a broker failure);
        a second call does nothing."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="mqtt-bus")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            await self._task  # raises why it stopped

    async def _run(self) -> None:
        first = True
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, username=self.username, password=self.password
                ) as client:
                    await client.subscribe(f"{self.prefix}/event/#", qos=1)
                    await client.subscribe(f"{self.prefix}/cmd/+", qos=1)
                    await client.subscribe(f"{self.prefix}/reply/{self.node_id}/+", qos=1)
                    self._client = client
                    self._ready.set()
                    first = False
                    async for message in client.messages:
                        await self._on_message(str(message.topic), bytes(message.payload))
            except aiomqtt.MqttError as error:
                self._client = None
                self._ready.clear()
                if first:
                    raise
                LOG.warning("bus broker: %s; reconnecting", error)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
            self._task = None

    async def _send(self, topic: str, body: dict[str, Any]) -> None:
        await self._ready.wait()
        assert self._client is not None
        await self._client.publish(topic, json.dumps(body, default=_jsonable), qos=1)

    # -- events -----------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        await self._local.publish(event)
        body = {
            "node": self.node_id,
            "kind": event.kind,
            "station_id": event.station_id,
            "data": event.data,
            "time": event.time.isoformat(),
        }
        await self._send(f"{self.prefix}/event/{event.kind}", body)

    def subscribe(self, kinds: Iterable[str] | None = None, max_queue: int = 1000) -> Subscription:
        return self._local.subscribe(kinds, max_queue)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    # -- commands ---------------------------------------------------------------------------

    def attach(self, station_id: str, executor: CommandExecutor) -> None:
        self._local.attach(station_id, executor)

    def detach(self, station_id: str, executor: CommandExecutor) -> None:
        self._local.detach(station_id, executor)

    async def send_command(self, command: Command, timeout_s: float) -> dict[str, Any]:
        if self._local.attached(command.station_id):
            return await self._local.send_command(command, timeout_s)
        uid = uuid.uuid4().hex
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[uid] = replies
        try:
            await self._send(
                f"{self.prefix}/cmd/{command.station_id}",
                {
                    "node": self.node_id,
                    "uid": uid,
                    "action": command.action,
                    "payload": command.payload,
                    "timeout_s": timeout_s,
                },
            )
            try:
                await asyncio.wait_for(replies.get(), self.claim_s)
            except TimeoutError:
                raise StationOffline(f"station {command.station_id} is not connected to any node") from None
            try:
                answer = await asyncio.wait_for(replies.get(), timeout_s)
            except TimeoutError:
                raise CommandTimeout(
                    f"station {command.station_id} did not answer {command.action} within {timeout_s:g} s"
                ) from None
        finally:
            self._waiting.pop(uid, None)
        if "result" in answer:
            return dict(answer["result"])
        kind = answer.get("error")
        if kind == "offline":
            raise StationOffline(answer.get("description", ""))
        if kind == "timeout":
            raise CommandTimeout(answer.get("description", ""))
        raise CommandRejected(answer.get("code", "GenericError"), answer.get("description", ""))

    async def _serve_command(self, station_id: str, request: dict[str, Any]) -> None:
        reply_to = f"{self.prefix}/reply/{request['node']}/{request['uid']}"
        await self._send(reply_to, {"claim": True})
        command = Command(station_id, request["action"], request.get("payload") or {})
        try:
            result = await self._local.send_command(command, float(request.get("timeout_s", 30.0)))
            body: dict[str, Any] = {"result": result}
        except StationOffline as error:
            body = {"error": "offline", "description": str(error)}
        except CommandTimeout as error:
            body = {"error": "timeout", "description": str(error)}
        except CommandRejected as error:
            body = {"error": "rejected", "code": error.code, "description": error.description}
        except ValueError as error:
            body = {"error": "rejected", "code": "FormationViolation", "description": str(error)}
        await self._send(reply_to, body)

    async def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            LOG.warning("bus: unreadable message on %s", topic)
            return
        rest = topic[len(self.prefix) + 1 :]
        if rest.startswith("event/"):
            if body.get("node") == self.node_id:
                return
            time = parse_ocpp_time(body["time"]) if body.get("time") else None
            event = Event(body["kind"], body.get("station_id", ""), body.get("data") or {})
            if time is not None:
                event = Event(event.kind, event.station_id, event.data, time)
            await self._local.publish(event)
        elif rest.startswith("cmd/"):
            station_id = rest[4:]
            if self._local.attached(station_id) and body.get("node") != self.node_id:
                task = asyncio.create_task(
                    self._serve_command(station_id, body), name=f"bus-cmd-{station_id}"
                )
                self._serving.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self._serving.discard)
        elif rest.startswith("reply/"):
            queue = self._waiting.get(rest.rsplit("/", 1)[-1])
            if queue is not None:
                queue.put_nowait(body)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def bus_from_env() -> Bus:
    """The bus a backend process uses: over MQTT when ``FROSTGRID_BUS_URL`` is set
    (``mqtt://user:password@host:port/prefix``), else in-process."""
    url = os.environ.get("FROSTGRID_BUS_URL")
    return MqttBus.from_url(url) if url else InProcessBus()
