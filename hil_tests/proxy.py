"""A TCP proxy between a device and its backend that can break the link on command.

Modes:
- normal: bytes flow both ways (after an optional one-way `delay(ms)`).
- `cut()`: every connection is closed on both sides and the listener stops, so new connections are
  refused (ECONNREFUSED) — a pulled cable or a dead access point.
- `blackhole()`: sockets stay open but every byte is dropped both ways; new connections are
  accepted and then hear nothing — a radio link that silently stops carrying traffic. A byte
  stream that lost bytes cannot go on, so `restore()` closes the connections that dropped data.
- `delay(ms)`: each chunk is delivered `ms` milliseconds after it arrived, order kept.
- `restore()`: back to normal (listening again on the same port after a cut).

With `tap=True` the proxy also decodes the WebSocket traffic it carries (`WsTap`) and keeps every
text message with its direction, connection number and arrival time in `messages`, so that a
test can see exactly which OCPP frames went over the wire and in which order.

Bounded: at most `max_conns` connections and `max_buffer` bytes in flight per direction (readers
wait when a delayed direction is full). Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from typing import Any, NamedTuple

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CHUNK = 16384


class WsTap:
    """Sans-I/O reader of one direction of a WebSocket connection: HTTP upgrade, then frames.

    `feed(data)` returns the complete text messages found (fragmented messages reassembled,
    masked client frames unmasked); control frames are skipped. It only watches: bytes are
    forwarded unchanged whatever it makes of them.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_http = True  # before the blank line that ends the upgrade request/response
        self._parts: list[bytes] = []  # fragments of the message being reassembled
        self._opcode = 0
        self._deflated = False  # RSV1 on the first frame: permessage-deflate
        self._inflater = zlib.decompressobj(-15)  # one per direction: context takeover works too
        self.broken = False  # the stream stopped parsing as WebSocket (it is then ignored)

    def feed(self, data: bytes) -> list[str]:
        """Consume bytes; return completed text messages."""
        if self.broken:
            return []
        self._buf += data
        out: list[str] = []
        if self._in_http:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            del self._buf[: end + 4]
            self._in_http = False
        while True:
            frame = self._frame()
            if frame is None:
                return out
            fin, rsv1, opcode, payload = frame
            if opcode >= 8:
                continue
            if opcode != 0:
                self._opcode, self._parts, self._deflated = opcode, [], rsv1
            self._parts.append(payload)
            if fin:
                msg = b"".join(self._parts)
                self._parts = []
                if self._deflated:
                    try:
                        msg = self._inflater.decompress(msg + b"\x00\x00\xff\xff")
                    except zlib.error:
                        self.broken = True
                        return out
                if self._opcode == 1:
                    out.append(msg.decode("utf-8", "replace"))

    def _frame(self) -> tuple[bool, bool, int, bytes] | None:
        b = self._buf
        if len(b) < 2:
            return None
        fin, rsv1, opcode = bool(b[0] & 0x80), bool(b[0] & 0x40), b[0] & 0x0F
        masked, n = bool(b[1] & 0x80), b[1] & 0x7F
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, i = int.from_bytes(b[2:4], "big"), 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = int.from_bytes(b[2:10], "big"), 10
        if n > 1 << 24:
            self.broken = True
            return None
        key = b""
        if masked:
            if len(b) < i + 4:
                return None
            key, i = bytes(b[i : i + 4]), i + 4
        if len(b) < i + n:
            return None
        payload = bytes(b[i : i + n])
        del b[: i + n]
        if masked:
            payload = bytes(c ^ key[j & 3] for j, c in enumerate(payload))
        return fin, rsv1, opcode, payload


class TapMessage(NamedTuple):
    """A text message seen on the wire: `direction` 'up' = device → backend."""

    t: float
    conn: int
    direction: str
    text: str


class _Link:
    """One proxied connection: two pumps and, for each direction, a delay queue."""

    def __init__(self, proxy: LinkProxy, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.down_r, self.down_w = down_r, down_w
        self.up_w: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.lost_bytes = 0  # bytes dropped while blackholed
        self.closed = False
        self.number = proxy.accepted  # 1-based connection number, for the tap's records
        self.taps = {"up": WsTap(), "down": WsTap()} if proxy.tap else None

    async def run(self) -> None:
        try:
            up_r, self.up_w = await asyncio.open_connection(self.proxy.target_host, self.proxy.target_port)
        except OSError:
            self.close()
            return
        self.tasks = [asyncio.create_task(self._pump(self.down_r, self.up_w, "up")),
                      asyncio.create_task(self._pump(up_r, self.down_w, "down"))]
        await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        self.close()

    async def _pump(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, direction: str) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        budget = asyncio.Semaphore(max(1, self.proxy.max_buffer // _CHUNK))
        sender = asyncio.create_task(self._sender(queue, w, budget, direction))
        self.tasks.append(sender)
        try:
            while True:
                data = await r.read(_CHUNK)
                if not data:
                    break
                if self.proxy.mode == "blackhole":
                    self.lost_bytes += len(data)
                    self.proxy.dropped_bytes += len(data)
                    continue
                await budget.acquire()
                queue.put_nowait((time.monotonic() + self.proxy.delay_ms / 1000.0, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender

    async def _sender(self, queue: asyncio.Queue[tuple[float, bytes] | None], w: asyncio.StreamWriter,
                      budget: asyncio.Semaphore, direction: str) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            budget.release()
            if self.proxy.mode == "blackhole":
                self.lost_bytes += len(data)
                self.proxy.dropped_bytes += len(data)
                continue
            try:
                w.write(data)
                await w.drain()
                self.proxy.forwarded_bytes += len(data)
            except (ConnectionError, OSError):
                return
            if self.taps is not None:
                for text in self.taps[direction].feed(data):
                    self.proxy.messages.append(TapMessage(time.time(), self.number, direction, text))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in self.tasks:
            t.cancel()
        for w in (self.down_w, self.up_w):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()
        self.proxy._links.discard(self)


class LinkProxy:
    """The proxy itself; run it on an asyncio loop (`await start()`), control it from any thread."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1",
                 listen_port: int = 0, max_conns: int = 256, max_buffer: int = 1 << 20,
                 tap: bool = False) -> None:
        if target_host not in _LOOPBACK or listen_host not in _LOOPBACK:
            raise ValueError("the link proxy works on loopback only")
        self.target_host, self.target_port = target_host, target_port
        self.listen_host, self.port = listen_host, listen_port
        self.max_conns = max_conns
        self.max_buffer = max_buffer
        self.mode = "normal"  # 'normal' | 'cut' | 'blackhole'
        self.tap = tap
        self.messages: list[TapMessage] = []  # with tap=True: text messages delivered, in order
        self.delay_ms = 0
        self.accepted = 0  # connections accepted (and forwarded) so far
        self.refused = 0  # connections closed at once because max_conns was reached
        self.forwarded_bytes = 0
        self.dropped_bytes = 0
        self._links: set[_Link] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> int:
        """Connections open now."""
        return len(self._links)

    def url(self, path: str = "/ocpp", scheme: str = "ws") -> str:
        """URL of the proxied service through this proxy, e.g. `ws://127.0.0.1:P/ocpp`."""
        return f"{scheme}://{self.listen_host}:{self.port}{path}"

    async def start(self) -> None:
        """Listen (on a free port unless one was given)."""
        self._loop = asyncio.get_running_loop()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.mode == "cut" or len(self._links) >= self.max_conns:
            self.refused += 1
            w.close()
            return
        self.accepted += 1  # before _Link(): it numbers the connection
        link = _Link(self, r, w)
        self._links.add(link)
        await link.run()

    async def stop(self) -> None:
        """Close everything."""
        await self._close_all()

    async def _close_all(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for link in list(self._links):
            link.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def acut(self) -> None:
        """Close both sides of every connection and refuse new ones until `restore`."""
        self.mode = "cut"
        await self._close_all()

    async def ablackhole(self) -> None:
        """Keep the sockets, drop every byte (both ways) until `restore`."""
        self.mode = "blackhole"

    async def adelay(self, ms: int) -> None:
        """Deliver each chunk `ms` milliseconds late (applies to chunks arriving from now on)."""
        self.delay_ms = max(0, int(ms))

    async def arestore(self) -> None:
        """Normal service again: listen if cut, close connections that lost bytes, no delay."""
        was = self.mode
        self.mode = "normal"
        self.delay_ms = 0
        if was == "cut" or self._server is None:
            await self._listen()
        for link in list(self._links):
            if link.lost_bytes:
                link.close()


class ThreadedProxy:
    """A `LinkProxy` on its own loop thread with blocking controls (`cut()`, `restore()`, ...)."""

    def __init__(self, target_host: str, target_port: int, **kwargs: Any) -> None:
        from hil_tests.loop_thread import LoopThread

        self.proxy = LinkProxy(target_host, target_port, **kwargs)
        self._loop = LoopThread("proxy")
        self._loop.run(self.proxy.start())

    @property
    def port(self) -> int:
        """The port devices connect to."""
        return self.proxy.port

    @property
    def mode(self) -> str:
        """'normal' | 'cut' | 'blackhole'."""
        return self.proxy.mode

    @property
    def active(self) -> int:
        """Connections open now."""
        return self.proxy.active

    @property
    def messages(self) -> list[TapMessage]:
        """With tap=True: the WebSocket text messages delivered so far (a copy)."""
        return list(self.proxy.messages)

    def url(self, path: str = "/ocpp", scheme: str = "ws") -> str:
        """URL through the proxy."""
        return self.proxy.url(path, scheme)

    def cut(self) -> None:
        """See `LinkProxy.acut`."""
        self._loop.run(self.proxy.acut())

    def blackhole(self) -> None:
        """See `LinkProxy.ablackhole`."""
        self._loop.run(self.proxy.ablackhole())

    def delay(self, ms: int) -> None:
        """See `LinkProxy.adelay`."""
        self._loop.run(self.proxy.adelay(ms))

    def restore(self) -> None:
        """See `LinkProxy.arestore`."""
        self._loop.run(self.proxy.arestore())

    def close(self) -> None:
        """Stop the proxy and its thread."""
        if self._loop.alive:
            with contextlib.suppress(Exception):
                self._loop.run(self.proxy.stop(), timeout=5)
            self._loop.stop()
