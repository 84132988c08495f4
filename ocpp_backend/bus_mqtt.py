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

Broker outages (docs/v2g.md §3):

- The bus speaks MQTT 5 with a persistent session per node (client id ``frostgrid-bus-{node}``,
  ``session_expiry_s``, clean only at the first connection of the process): a node that is
  disconnected for a moment gets the events published meanwhile from the broker, and a broker with
  ``persistence true`` keeps the sessions across its own restart.
- ``publish`` never waits for the broker: while it is unreachable, events are kept in order in a
  bounded buffer (``max_buffered``). When the buffer is full the oldest event of a droppable kind
  (``DROPPABLE_KINDS``: samples that a later one supersedes) is dropped first, else the oldest
  event; ``dropped`` counts them and each drop is logged. After the reconnection the buffer is sent
  in order before any newer event. Delivery is at least once: an event whose acknowledgement was
  lost with the connection is sent again.
- Commands and replies are never buffered: a command waits for the broker within its own timeout and
  then fails with ``CommandTimeout`` naming the broker; a command or reply carries an MQTT message
  expiry, so a broker never hands a stale one to a node that reconnects late.
- Reconnection backs off exponentially with jitter from ``reconnect_min_s`` to ``reconnect_max_s``.
- TLS: ``mqtts://`` URLs, or ``tls_ca_file`` (the broker's CA; the system's CAs when absent) and
  optionally ``tls_cert_file`` + ``tls_key_file`` (a client certificate for brokers that require
  one). ``bus_from_env`` takes them from ``Settings`` (``FROSTGRID_BUS_TLS_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import ssl
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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

if TYPE_CHECKING:
    from ocpp_backend.settings import Settings

LOG = logging.getLogger(__name__)

# Event kinds dropped first when the outage buffer is full: periodic samples a later one supersedes
# (the readings are in the store already; telemetry comes again within a minute).
DROPPABLE_KINDS = frozenset({"meter.readings", "dispatch.telemetry", "station.notification"})


class _LinkLost(Exception):
    """The broker connection a publication was riding on went down before it was acknowledged."""


class _Out:
    """One event waiting for (or on its way to) the broker."""

    __slots__ = ("droppable", "kind", "payload", "seq", "topic")

    def __init__(self, seq: int, kind: str, topic: str, payload: str, droppable: bool) -> None:
        self.seq, self.kind, self.topic, self.payload, self.droppable = seq, kind, topic, payload, droppable


def tls_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client TLS context: the broker checked against ``ca_file`` (the system's CAs when None)
    and its host name; a client certificate when ``cert_file`` (and ``key_file``) are given."""
    if key_file and not cert_file:
        raise ValueError("a bus TLS key file needs its certificate file (tls_cert_file)")
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


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
        *,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        max_buffered: int = 10000,
        droppable_kinds: Iterable[str] = DROPPABLE_KINDS,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        session_expiry_s: int = 300,
        timeout_s: float = 10.0,
    ) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        self.host, self.port, self.username, self.password = host, port, username, password
        self.prefix = prefix.rstrip("/")
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.claim_s = claim_s
        use_tls = tls or bool(tls_ca_file or tls_cert_file or tls_key_file)
        self._tls = tls_context(tls_ca_file, tls_cert_file, tls_key_file) if use_tls else None
        self.max_buffered = max_buffered
        self.droppable_kinds = frozenset(droppable_kinds)
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.session_expiry_s = session_expiry_s
        self.timeout_s = timeout_s  # for the broker's CONNACK, SUBACK and PUBACK
        self.dropped = 0  # events dropped from a full outage buffer, since start
        self._local = InProcessBus()  # local subscribers and the stations this node holds
        self._client: aiomqtt.Client | None = None
        self._lost: asyncio.Future[None] | None = None  # resolved when the current connection drops
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._seq = count()
        self._outbox: deque[_Out] = deque()  # events for the broker, in publication order
        self._inflight: dict[int, _Out] = {}  # events being published directly
        self._dropped_logged = 0

    @classmethod
    def from_url(cls, url: str, node_id: str | None = None, **options: Any) -> MqttBus:
        """``mqtt://user:password@host:port/topic/prefix`` (prefix default ``frostgrid/bus``);
        ``mqtts://`` for TLS (port default 8883). ``options``: the keyword arguments of the class."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"bus URL must start with mqtt:// or mqtts://, not {url!r}")
        secure = parts.scheme == "mqtts"
        if secure:
            options["tls"] = True
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if secure else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            parts.path.strip("/") or "frostgrid/bus",
            node_id,
            **options,
        )

    @property
    def connected(self) -> bool:
        """True while a broker connection is up (subscribed)."""
        return self._client is not None

    @property
    def buffered(self) -> int:
        """Events waiting for the broker."""
        return len(self._outbox) + len(self._inflight)

    async def start(self) -> None:
        """Connect and subscribe (in a background task that reconnects after a broker failure);
        a second call does nothing. Raises when the first connection fails."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="mqtt-bus")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            task, self._task = self._task, None
            await task  # raises why it stopped

    def _client_for(self, first: bool) -> aiomqtt.Client:
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = self.session_expiry_s
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=f"frostgrid-bus-{self.node_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=first,  # a new process starts afresh; a reconnection resumes its session
            properties=session,
            tls_context=self._tls,
            timeout=self.timeout_s,
        )

    async def _run(self) -> None:
        first = True
        delay = self.reconnect_min_s
        loop = asyncio.get_running_loop()
        while True:
            lost: asyncio.Future[None] = loop.create_future()
            try:
                async with self._client_for(first) as client:
                    await client.subscribe(f"{self.prefix}/event/#", qos=1)
                    await client.subscribe(f"{self.prefix}/cmd/+", qos=1)
                    await client.subscribe(f"{self.prefix}/reply/{self.node_id}/+", qos=1)
                    self._client, self._lost = client, lost
                    self._ready.set()
                    if not first:
                        LOG.info("bus broker %s:%d: connected again, %d events to send",
                                 self.host, self.port, len(self._outbox))
                    first = False
                    delay = self.reconnect_min_s
                    self._start_flush()
                    async for message in client.messages:
                        try:
                            await self._on_message(str(message.topic), bytes(message.payload))
                        except Exception:  # one bad message must not take the bus down
                            LOG.exception("bus: message on %s not handled", message.topic)
            except aiomqtt.MqttError as error:
                self._link_down(lost)
                if first:
                    raise
                wait = delay * random.uniform(0.5, 1.0)
                LOG.warning("bus broker %s:%d: %s; reconnecting in %.1f s (%d events buffered)",
                            self.host, self.port, error, wait, self.buffered)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.reconnect_max_s)
            finally:
                self._link_down(lost)

    def _link_down(self, lost: asyncio.Future[None]) -> None:
        """The connection is gone: publications riding on it go back to the buffer, in order."""
        if not lost.done():
            lost.set_result(None)
        if self._lost is lost:
            self._client = None
            self._ready.clear()
        for seq in sorted(self._inflight):
            self._buffer(self._inflight.pop(seq))

    async def close(self) -> None:
        for task in (self._flusher, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task
        self._flusher = self._task = None
        if self._outbox:
            LOG.warning("bus closed with %d events not sent to the broker", len(self._outbox))

    # -- sending ----------------------------------------------------------------------------

    @staticmethod
    async def _publish_on(
        client: aiomqtt.Client,
        lost: asyncio.Future[None],
        topic: str,
        payload: str,
        properties: Properties | None = None,
    ) -> None:
        """Publish on this connection; raises _LinkLost as soon as it drops (MqttError on a refusal
        or a timeout)."""
        if lost.done():
            raise _LinkLost
        sent = asyncio.ensure_future(client.publish(topic, payload, qos=1, properties=properties))
        try:
            await asyncio.wait((sent, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sent.done():
                sent.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await sent
        if sent.cancelled():
            raise _LinkLost
        sent.result()

    def _buffer(self, out: _Out) -> None:
        """Keep ``out`` for the next connection, in publication order; bounded."""
        box = self._outbox
        if len(box) >= self.max_buffered:
            victim = next((i for i, o in enumerate(box) if o.droppable), 0)
            gone = box[victim]
            del box[victim]
            self.dropped += 1
            if self.dropped - self._dropped_logged >= 1000 or self._dropped_logged == 0 or not gone.droppable:
                self._dropped_logged = self.dropped
                LOG.warning("bus: broker unreachable and %d events buffered: dropped the oldest %s "
                            "event (%d dropped so far)", len(box) + 1, gone.kind, self.dropped)
        if not box or box[-1].seq < out.seq:
            box.append(out)
            return
        at = next(i for i, o in enumerate(box) if o.seq > out.seq)
        box.insert(at, out)

    def _start_flush(self) -> None:
        if self._outbox and self._client is not None and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush(self._client, self._lost), name="mqtt-bus-flush")

    async def _flush(self, client: aiomqtt.Client, lost: asyncio.Future[None] | None) -> None:
        """Send the buffered events in order on this connection (newer ones queue behind them)."""
        assert lost is not None
        sent = 0
        while self._outbox and not lost.done():
            out = self._outbox[0]
            try:
                await self._publish_on(client, lost, out.topic, out.payload)
            except _LinkLost:
                break
            except aiomqtt.MqttError as error:  # refused or not acknowledged in time: again
                LOG.warning("bus: buffered %s event not sent (%s); retrying", out.kind, error)
                await asyncio.sleep(self.reconnect_min_s)
                continue
            if self._outbox and self._outbox[0] is out:
                self._outbox.popleft()
            else:
                with contextlib.suppress(ValueError):
                    self._outbox.remove(out)
            sent += 1
        if sent:
            LOG.info("bus: %d buffered events sent (%d dropped since start)", sent, self.dropped)

    async def _emit(self, kind: str, topic: str, payload: str) -> None:
        out = _Out(next(self._seq), kind, topic, payload, kind in self.droppable_kinds)
        client, lost = self._client, self._lost
        if client is None or lost is None or self._outbox:
            self._buffer(out)  # the broker is away, or older events still go first
            return
        self._inflight[out.seq] = out
        try:
            await self._publish_on(client, lost, topic, payload)
        except (_LinkLost, aiomqtt.MqttError):
            if self._inflight.pop(out.seq, None) is not None:
                self._buffer(out)
                self._start_flush()
        finally:
            self._inflight.pop(out.seq, None)

    async def _wait_broker(self, within_s: float) -> bool:
        """Wait up to ``within_s`` for a broker connection; False when there is none by then."""
        if self._client is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), max(within_s, 0.0))
        return self._client is not None

    async def _send(self, topic: str, body: dict[str, Any], expiry_s: float) -> None:
        """Publish a command or a reply now (never buffered); it expires at the broker after
        ``expiry_s``. Raises _LinkLost or MqttError when it may not have been sent."""
        client, lost = self._client, self._lost
        if client is None or lost is None:
            raise _LinkLost
        expiry = Properties(PacketTypes.PUBLISH)
        expiry.MessageExpiryInterval = max(1, math.ceil(expiry_s))
        await self._publish_on(client, lost, topic, json.dumps(body, default=_jsonable), expiry)

    # -- events -----------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Deliver to this node's subscribers at once and to the other nodes through the broker
        (buffered while it is unreachable: this never waits for it)."""
        await self._local.publish(event)
        body = {
            "node": self.node_id,
            "kind": event.kind,
            "station_id": event.station_id,
            "data": event.data,
            "time": event.time.isoformat(),
        }
        await self._emit(event.kind, f"{self.prefix}/event/{event.kind}", json.dumps(body, default=_jsonable))

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
        """Run ``command`` on whichever node holds the station. While the broker is unreachable the
        command waits for it within ``timeout_s`` and then raises CommandTimeout (never buffered)."""
        if self._local.attached(command.station_id):
            return await self._local.send_command(command, timeout_s)
        loop = asyncio.get_running_loop()
        start = loop.time()
        what = f"{command.action} for station {command.station_id}"
        broker = f"bus broker {self.host}:{self.port}"
        if not await self._wait_broker(timeout_s):
            raise CommandTimeout(f"{broker} unreachable: {what} not sent within {timeout_s:g} s")
        left = max(timeout_s - (loop.time() - start), 0.001)  # what is left of the command's time
        lost = self._lost
        uid = uuid.uuid4().hex
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[uid] = replies
        try:
            body = {
                "node": self.node_id,
                "uid": uid,
                "action": command.action,
                "payload": command.payload,
                "timeout_s": left,
            }
            try:
                await self._send(f"{self.prefix}/cmd/{command.station_id}", body, self.claim_s)
            except (_LinkLost, aiomqtt.MqttError) as error:
                raise CommandTimeout(
                    f"{broker}: connection lost while sending {what} ({error or 'disconnected'}); "
                    "it may not have reached the station"
                ) from None
            try:
                await asyncio.wait_for(replies.get(), self.claim_s)
            except TimeoutError:
                if lost is not None and lost.done():
                    raise CommandTimeout(f"{broker}: connection lost while waiting for {what}") from None
                raise StationOffline(f"station {command.station_id} is not connected to any node") from None
            try:
                answer = await asyncio.wait_for(replies.get(), left)
            except TimeoutError:
                gone = lost is not None and lost.done()
                raise CommandTimeout(
                    f"station {command.station_id} did not answer {command.action} within {timeout_s:g} s"
                    + (" (the bus broker connection was lost meanwhile)" if gone else "")
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
        timeout_s = float(request.get("timeout_s", 30.0))
        try:
            await self._send(reply_to, {"claim": True}, self.claim_s)
        except (_LinkLost, aiomqtt.MqttError):
            # the asker sees no claim and reports the station offline: do not run it behind its back
            LOG.warning("bus: %s for %s not run: broker connection lost before the claim",
                        request.get("action"), station_id)
            return
        command = Command(station_id, request["action"], request.get("payload") or {})
        try:
            result = await self._local.send_command(command, timeout_s)
            body: dict[str, Any] = {"result": result}
        except StationOffline as error:
            body = {"error": "offline", "description": str(error)}
        except CommandTimeout as error:
            body = {"error": "timeout", "description": str(error)}
        except CommandRejected as error:
            body = {"error": "rejected", "code": error.code, "description": error.description}
        except ValueError as error:
            body = {"error": "rejected", "code": "FormationViolation", "description": str(error)}
        try:
            if not await self._wait_broker(timeout_s):
                raise _LinkLost
            await self._send(reply_to, body, timeout_s)
        except (_LinkLost, aiomqtt.MqttError):
            LOG.warning("bus: the answer of %s to %s is lost with the broker connection",
                        station_id, request.get("action"))

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


def bus_from_env(settings: Settings | None = None) -> Bus:
    """The bus a backend process uses: over MQTT when ``FROSTGRID_BUS_URL`` is set
    (``mqtt://user:password@host:port/prefix``, ``mqtts://`` for TLS), else in-process. TLS files,
    buffer size, back-off and session expiry come from ``settings`` (default: from the
    environment, ``FROSTGRID_BUS_*``)."""
    url = os.environ.get("FROSTGRID_BUS_URL")
    if not url:
        return InProcessBus()
    if settings is None:
        from ocpp_backend.settings import Settings

        settings = Settings()
    return MqttBus.from_url(url, **mqtt_bus_options(settings))


def mqtt_bus_options(settings: Settings) -> dict[str, Any]:
    """The ``MqttBus`` keyword arguments given by the backend settings."""
    return {
        "tls_ca_file": settings.bus_tls_ca_file,
        "tls_cert_file": settings.bus_tls_cert_file,
        "tls_key_file": settings.bus_tls_key_file,
        "max_buffered": settings.bus_buffer_events,
        "reconnect_max_s": settings.bus_reconnect_max_s,
        "session_expiry_s": settings.bus_session_expiry_s,
    }
