# WebSocket client (RFC 6455) for the charger's link to the central system.
#
# The pure framing core lives in ws_codec (WsCodec; re-exported here), the opening handshake in
# ws_handshake (loaded only to connect), the URL check in ws_url (loaded only to build a client);
# this module adds the pure helpers Backoff and Liveness (time comes in as an argument) and
# WsClient, the thin asyncio shell that moves bytes between a socket and the codec.
from os import urandom
from time import ticks_ms, ticks_diff
from micropython import const

import lazy
import ws_codec
from ws_codec import WsError, WsCodec

_TEXT = const(1)  # codec events and states (ws_codec)
_CLOSE = const(8)
_PING = const(9)
_ERROR = const(256)
_OPEN = const(0)
_CLOSED = const(2)


def __getattr__(name):
    # what ws_codec offers (ws.TEXT, ws.header...) is offered here too
    return getattr(ws_codec, name)


class Backoff:
    """Jittered exponential back-off for reconnecting.

    The n-th delay after a reset is drawn uniformly from [cap/2, cap] with cap = base_ms * 2**n
    bounded by max_ms: never more than max_ms, never less than half the current step, and
    stations that lost the backend together do not come back in lockstep.
    """

    def __init__(self, base_ms=1000, max_ms=60000, seed=None):
        self.base_ms = base_ms
        self.max_ms = max_ms
        if seed is None:
            seed = int.from_bytes(urandom(4), "little")
        self.state = (seed & 0xFFFFFFFF) or 0x9E3779B9  # xorshift32 state, never 0
        self.step = min(base_ms, max_ms)  # the cap of the next delay

    def next_ms(self):
        cap = self.step
        if cap < self.max_ms:
            self.step = min(cap * 2, self.max_ms)
        half = cap // 2
        x = self.state  # xorshift32 step
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return half + x % (cap - half + 1)

    def reset(self):
        self.step = min(self.base_ms, self.max_ms)


class Liveness:
    """Stale-link detection, pure: the caller passes the time.

    `due_ping(now)` is True (once) when nothing arrived for ping_interval_ms since the last frame
    or ping, and records the ping as sent; `seen(now)` is called for every frame received;
    `dead(now)` is True when a ping has had no frame at all in answer for timeout_ms.
    ping_interval_ms <= 0 disables both. Times are ticks_ms values (wrap-safe).
    """

    def __init__(self, ping_interval_ms, timeout_ms):
        self.ping_interval_ms = ping_interval_ms
        self.timeout_ms = timeout_ms
        self.reset(0)

    def reset(self, now_ms):
        self.time = now_ms  # last frame received, or last ping sent
        self.ping = None  # when the unanswered ping went out; None = no ping outstanding

    def seen(self, now_ms):
        self.time = now_ms
        self.ping = None

    def due_ping(self, now_ms):
        if self.ping_interval_ms <= 0 or self.ping is not None:
            return False
        if ticks_diff(now_ms, self.time) >= self.ping_interval_ms:
            self.ping = now_ms
            self.time = now_ms
            return True
        return False

    def dead(self, now_ms):
        return self.ping is not None and ticks_diff(now_ms, self.ping) >= self.timeout_ms

    def wait_ms(self, now_ms):
        """How long the caller may sleep before due_ping or dead can change (>= 0)."""
        if self.ping_interval_ms <= 0:
            return 1000
        if self.ping is not None:
            w = self.timeout_ms - ticks_diff(now_ms, self.ping)
        else:
            w = self.ping_interval_ms - ticks_diff(now_ms, self.time)
        return w if w > 0 else 0


class WsClient:
    """WebSocket client over MicroPython asyncio streams (one connection at a time).

    recv_text() (or the zero-copy recv_raw()) answers pings itself and returns None when the link
    is closed, lost or found dead (reason in `error`); it raises WsError when the server breaks the
    protocol (oversized message: code 1009, bad frame: 1002, bad UTF-8: 1007), after sending the
    matching close frame. send_text() raises WsError when not connected or the link is lost.
    While connected, a background task pings the server every ping_interval_ms of silence and
    drops the link when no frame arrives within ping_timeout_ms of a ping.
    """

    def __init__(self, url, user, password, subprotocol="ocpp1.6", max_frame=8192,
                 ping_interval_ms=30000, ping_timeout_ms=10000, connect_timeout_ms=10000,
                 ssl=None):
        self.secure, self.host, self.port, self.path = lazy.call("ws_url", "parse_url", url)
        self.user = user
        self.password = password
        self.subprotocol = subprotocol
        self.ssl = ssl  # an ssl.SSLContext for wss://, or None for the default client context
        self.connect_timeout_ms = connect_timeout_ms
        self.codec = WsCodec(max_frame)
        self.liveness = Liveness(ping_interval_ms, ping_timeout_ms)
        self.connected = False
        self.nodelay = False  # True once TCP_NODELAY was set on the socket
        self.error = None  # why the last connection ended (str)
        # (attribute names MicroPython already holds: a new name is a qstr interned for good)
        self.s = None  # the asyncio Stream (reader and writer are one object in MicroPython)
        self.task = None  # keep-alive task
        self.wait = None  # task inside recv(), if any
        self.lock = None  # task inside a socket write, if any: other writers wait for it
        self.done = False  # set when we cancel our own reader/writer to end the connection
        self._closing = 0  # close code we sent; 0 = we did not start the closing handshake

    def set_ping(self, ping_interval_ms, ping_timeout_ms=None):
        self.liveness.ping_interval_ms = ping_interval_ms
        if ping_timeout_ms is not None:
            self.liveness.timeout_ms = ping_timeout_ms

    async def connect(self):
        # the opening handshake's code (ws_handshake.py) is loaded for each connect (lazy.py)
        await lazy.call("ws_handshake", "connect", self)

    async def send(self, frame):
        import asyncio  # not at the top: the pure parts of ws need no event loop

        # One write() per frame: the stream takes the whole buffer or queues all of it, so frames
        # from the keep-alive task and the application never interleave; one task drains the
        # socket at a time (self.lock), another waits its turn in steps of 5 ms (writes are few
        # and short, and asyncio.Lock would cost a module of its own in RAM).
        while self.lock is not None:
            await asyncio.sleep_ms(5)
        if self.s is None:  # dropped while this task waited
            raise WsError("not connected")
        self.lock = asyncio.current_task()
        try:
            self.s.write(frame)
            await self.s.drain()
        finally:
            self.lock = None

    async def flush(self):
        f = self.codec.pop_out()
        while f is not None:
            await self.send(f)
            f = self.codec.pop_out()

    async def send_text(self, s):
        import asyncio  # not at the top: the pure parts of ws need no event loop

        if not self.connected or self.codec.state != _OPEN:
            raise WsError("not connected")
        try:
            await self.send(self.codec.text(s))
        except asyncio.CancelledError:
            if self.done:
                raise WsError("link lost while sending: %s" % self.error)
            raise
        except OSError as e:
            self._drop("send failed: %r" % e)
            raise WsError("link lost while sending: %r" % e)

    # recv_text and recv_raw hand out recv()'s coroutine itself (await them as usual): a wrapping
    # coroutine would hold one more frame in the heap for as long as the link waits
    def recv_text(self):
        """Next text message as a str; None once the link is closed, lost or dead."""
        return self.recv(False)

    def recv_raw(self):
        """Next text message as a memoryview into the receive buffer: no copy (a 16 kB message
        needs no second 16 kB block, which a fragmented heap may not have) and no UTF-8 check.
        Valid only until the next recv call; rpc.parse (json.loads) takes it as it is."""
        return self.recv(True)

    async def recv(self, raw):
        import asyncio  # not at the top: the pure parts of ws need no event loop

        if not self.connected:
            return None
        c = self.codec
        c.raw = raw
        s = self.s
        self.wait = asyncio.current_task()
        try:
            while True:
                n = await s.readinto(c.rx_buf())
                if n is None:  # TLS record not complete yet
                    continue
                if n == 0:
                    self._drop("connection closed by the server without a close frame")
                    return None
                self.liveness.seen(ticks_ms())
                ev = c.rx_done(n)
                if ev is None:
                    continue
                kind = ev[0]
                if kind == _TEXT:
                    return ev[1]
                if kind == _PING:
                    await self.flush()
                elif kind == _CLOSE:
                    await self.flush()
                    if self._closing:
                        self._drop("closed by the client (%d)" % self._closing)
                    else:
                        self._drop("closed by the server: %d %s" % ev[1])
                    return None
                elif kind == _ERROR:
                    try:
                        await asyncio.wait_for_ms(self.flush(), 1000)
                    except Exception:
                        pass
                    self._drop("protocol error %d: %s" % ev[1])
                    raise WsError(ev[1][1], ev[1][0])
                # PONG needs nothing beyond `seen`; BINARY is not OCPP-J and is ignored
        except asyncio.CancelledError:
            if self.done:
                return None
            raise
        except OSError as e:
            self._drop("receive failed: %r" % e)
            return None
        finally:
            self.wait = None

    async def close(self, code=1000):
        # the closing handshake (ws_close.py, loaded for it); with no heap for that, just drop
        try:
            await lazy.call("ws_close", "close", self, code)
        except MemoryError:
            self._drop("closed by the client (%d)" % code)

    async def _keepalive(self, s):
        import asyncio  # not at the top: the pure parts of ws need no event loop

        lv = self.liveness
        while self.s is s and self.connected:
            w = lv.wait_ms(ticks_ms())
            await asyncio.sleep_ms(w if w > 10 else 10)
            if self.s is not s or not self.connected:
                return
            now = ticks_ms()
            if lv.dead(now):
                self._drop("link dead: no answer to a ping within %d ms" % lv.timeout_ms)
                return
            if lv.due_ping(now):
                try:
                    await self.send(self.codec.ping())
                except Exception:
                    pass  # a dead link shows up as a missing pong

    def _drop(self, reason):
        """End the connection now: close the socket, stop the reader/writer tasks we own."""
        import asyncio  # not at the top: the pure parts of ws need no event loop

        if self.connected or self.s is not None:
            self.error = reason
        self.connected = False
        self.codec.state = _CLOSED
        self.done = True
        cur = None
        try:
            cur = asyncio.current_task()
        except Exception:
            pass
        for t in (self.task, self.wait, self.lock):
            if t is not None and t is not cur:
                try:
                    t.cancel()
                except Exception:
                    pass
        self.task = None
        s = self.s
        self.s = None
        if s is not None:
            try:
                s.s.close()
            except Exception:
                pass
