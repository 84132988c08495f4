"""The grid dispatch gateway: MQTT on the grid side, the backend's bus on the other.

Grid → gateway: ``{prefix}/dispatch/order`` and ``{prefix}/dispatch/cancel``. The gateway checks
each message (JSON, signature, schema, intervals not over, deadline not passed), acknowledges it
``received`` and hands it to the dispatcher as a bus event (``dispatch.order`` /
``dispatch.cancel``); a message that fails a check gets a ``rejected`` ack naming the field and
never reaches the dispatcher. The dispatcher answers with bus events that the gateway publishes
unchanged in shape:

- ``dispatch.ack`` → ``{prefix}/dispatch/ack/{order_id}`` (accepted / partial / rejected / started /
  completed / cancelled);
- ``dispatch.telemetry`` → ``{prefix}/telemetry``, paced per group: at most one message every
  ``telemetry_s`` (``GatewayConfig``, ``frostgrid gateway run --telemetry-s``, default 60 s). A
  telemetry that comes sooner is held, and the newest one held goes out when the period is over (so
  the grid sees a steady period, never a burst, and never a repeated snapshot);
- ``dispatch.verification`` → ``{prefix}/verification/{order_id}``.

If no accepted / partial / rejected ack comes from the dispatcher before the order's
``response_deadline``, the gateway rejects the order (``field: response_deadline``) and sends the
dispatcher a ``dispatch.cancel`` for it, so that a late acceptance is withdrawn.

A message too broken to carry a usable ``order_id`` is answered on ``{prefix}/dispatch/ack/_invalid``.
Everything is QoS 1; acks are not retained (a grid party subscribes before it sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiomqtt

from gateway.orders import Ack, Rejected, order_id_of, parse_cancel, parse_order
from ocpp_backend.bus import Bus, Event
from ocpp_backend.timeutil import utc_now

LOG = logging.getLogger(__name__)
INVALID_ID = "_invalid"
TO_GRID = ("dispatch.ack", "dispatch.telemetry", "dispatch.verification")


@dataclass
class GatewayConfig:
    """Where the grid broker is and how to trust what comes from it."""

    prefix: str  # e.g. "frostgrid/harbin"
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    keys: dict[str, bytes] = field(default_factory=dict)  # grid party -> HMAC key
    require_signature: bool = False
    reconnect_s: float = 2.0
    telemetry_s: float = 60.0  # telemetry to the grid: at most one message per group per period


class Gateway:
    """Run with ``await gateway.run()`` (cancel the task to stop); ``ready`` is set once subscribed."""

    def __init__(self, config: GatewayConfig, bus: Bus, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.bus = bus
        self.clock = clock
        self.ready = asyncio.Event()
        self.handled = 0  # grid messages processed (tests wait on it)
        self._pending: dict[str, datetime] = {}  # order id -> response deadline, until the dispatcher answers
        self._timers: set[asyncio.Task[None]] = set()
        self.telemetry_sent = 0  # telemetry messages published to the grid
        self._telemetry_at: dict[str, float] = {}  # group -> loop time of its last telemetry out
        self._telemetry_held: dict[str, dict[str, Any]] = {}  # group -> newest telemetry waiting

    def topic(self, suffix: str) -> str:
        """A full topic under the region prefix."""
        return f"{self.config.prefix}/{suffix}"

    async def run(self) -> None:
        """Connect, subscribe, serve; reconnect after a broker failure."""
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as error:
                self.ready.clear()
                LOG.warning("grid broker: %s; reconnecting in %.1f s", error, self.config.reconnect_s)
                await asyncio.sleep(self.config.reconnect_s)

    async def _session(self) -> None:
        c = self.config
        async with aiomqtt.Client(
            c.host, c.port, username=c.username, password=c.password, identifier=None
        ) as client:
            await client.subscribe(self.topic("dispatch/order"), qos=1)
            await client.subscribe(self.topic("dispatch/cancel"), qos=1)
            subscription = self.bus.subscribe(TO_GRID, max_queue=10000)
            forward = asyncio.create_task(self._forward(client, subscription), name="gateway-forward")
            self.ready.set()
            try:
                async for message in client.messages:
                    await self._on_grid(client, str(message.topic), bytes(message.payload))
                    self.handled += 1
            finally:
                forward.cancel()
                for timer in list(self._timers):
                    timer.cancel()
                self._telemetry_held.clear()  # its timers are gone: the next telemetry starts afresh
                with contextlib.suppress(asyncio.CancelledError):
                    await forward
                subscription.close()

    async def _publish(self, client: aiomqtt.Client, topic: str, body: dict[str, Any]) -> None:
        await client.publish(self.topic(topic), json.dumps(body, default=str), qos=1)

    async def _ack(self, client: aiomqtt.Client, ack: Ack) -> None:
        await self._publish(client, f"dispatch/ack/{ack.order_id}", ack.model_dump(mode="json"))

    async def _on_grid(self, client: aiomqtt.Client, topic: str, raw: bytes) -> None:
        now = self.clock()
        c = self.config
        try:
            if topic == self.topic("dispatch/order"):
                order = parse_order(raw, now, c.keys, c.require_signature)
                received = Ack(order_id=order.order_id, revision=order.revision, stage="received", time=now)
                await self._ack(client, received)
                self._pending[order.order_id] = order.response_deadline
                await self.bus.publish(Event("dispatch.order", "", order.model_dump(mode="json")))
                self._watch_deadline(client, order.order_id, order.revision, order.response_deadline)
            elif topic == self.topic("dispatch/cancel"):
                cancel = parse_cancel(raw, c.keys, c.require_signature)
                await self._ack(client, Ack(order_id=cancel.order_id, stage="received", time=now))
                await self.bus.publish(Event("dispatch.cancel", "", cancel.model_dump(mode="json")))
        except Rejected as rejected:
            order_id = order_id_of(raw) or INVALID_ID
            LOG.info("refused a message on %s: %s", topic, rejected.reason)
            ack = Ack(order_id=order_id, stage="rejected", time=now, reason=rejected.reason)
            ack.field = rejected.field
            await self._ack(client, ack)

    def _watch_deadline(
        self, client: aiomqtt.Client, order_id: str, revision: int, deadline: datetime
    ) -> None:
        """If the dispatcher has not answered by the response deadline, the order is rejected to the
        grid and withdrawn from the dispatcher (a late acceptance must not apply it)."""

        async def watch() -> None:
            await asyncio.sleep(max((deadline - self.clock()).total_seconds(), 0.0))
            if self._pending.get(order_id) != deadline:
                return
            del self._pending[order_id]
            reason = "the dispatcher did not answer before the response deadline"
            await self.bus.publish(Event("dispatch.cancel", "", {"order_id": order_id, "reason": reason}))
            ack = Ack(
                order_id=order_id, revision=revision, stage="rejected", time=self.clock(), reason=reason
            )
            ack.field = "response_deadline"
            await self._ack(client, ack)

        task = asyncio.create_task(watch(), name=f"deadline-{order_id}")
        self._timers.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._timers.discard)

    async def _forward(self, client: aiomqtt.Client, subscription: Any) -> None:
        async for event in subscription:
            data = event.data
            if event.kind == "dispatch.ack" and data.get("stage") in ("accepted", "partial", "rejected"):
                self._pending.pop(data["order_id"], None)
            if event.kind == "dispatch.ack":
                await self._publish(client, f"dispatch/ack/{data['order_id']}", data)
            elif event.kind == "dispatch.telemetry":
                await self._telemetry(client, event.station_id or str(data.get("group", "")), data)
            elif event.kind == "dispatch.verification":
                await self._publish(client, f"verification/{data['order_id']}", data)

    async def _telemetry(self, client: aiomqtt.Client, group: str, data: dict[str, Any]) -> None:
        """Publish the group's telemetry now if its period is over, else hold the newest until it is."""
        loop = asyncio.get_running_loop()
        period = self.config.telemetry_s
        last = self._telemetry_at.get(group)
        waiting = group in self._telemetry_held
        self._telemetry_held[group] = data  # the newest wins
        if waiting:
            return  # a timer is already set for this group
        if last is None or loop.time() - last >= period:
            await self._send_telemetry(client, group)
            return

        async def later() -> None:
            await asyncio.sleep(last + period - loop.time())
            await self._send_telemetry(client, group)

        task = asyncio.create_task(later(), name=f"telemetry-{group}")
        self._timers.add(task)  # cancelled with the session, like the deadline timers
        task.add_done_callback(self._timers.discard)

    async def _send_telemetry(self, client: aiomqtt.Client, group: str) -> None:
        data = self._telemetry_held.pop(group, None)
        if data is None:
            return
        self._telemetry_at[group] = asyncio.get_running_loop().time()
        self.telemetry_sent += 1
        await self._publish(client, "telemetry", data)
