# RFC 6455 framing, client side, sans-I/O: bytes in -> events out, frames out as bytes.
# No sockets, no clock. ws.py is the public face; this module is split off so that each file
# compiles within a small heap when loaded from source.
from micropython import const
from os import urandom

import lazy

_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BINARY = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)
# Codec events are (kind, data); kind is the opcode of what arrived, or ERROR.
_TEXT = const(1)  # data: str, a whole (reassembled) message; a memoryview when codec.raw
_BINARY = const(2)  # data: bytes
_CLOSE = const(8)  # data: (code, reason); code 1005 when the close frame carried none
_PING = const(9)  # data: bytes (a pong is already queued)
_PONG = const(10)  # data: bytes
_ERROR = const(256)  # data: (close code, reason); a close frame with that code is queued

_OPEN = const(0)
_CLOSING = const(1)  # we sent a close frame and wait for the peer's
_CLOSED = const(2)
# Why a frame is refused; the texts are in ws_fail.py, loaded only when one is (lazy.py)
_TOP_BIT = const(0)
_RSV = const(1)
_MASKED = const(2)
_OPCODE = const(3)
_FRAG_CTL = const(4)
_LONG_CTL = const(5)
_CONT = const(6)
_IN_PROGRESS = const(7)
_TOO_BIG_MSG = const(8)
_TOO_BIG = const(9)
_CLOSE_1 = const(10)
_CLOSE_CODE = const(11)
_CLOSE_UTF8 = const(12)
_TEXT_UTF8 = const(13)


def __getattr__(name):
    # the constants above by name, for the codec's users (ws_codec.TEXT, ws.OP_CLOSE...): looked up
    # in ws_fail.py, loaded for it, so that the names are neither globals nor interned for good
    return lazy.call("ws_fail", "constant", name)


class WsError(Exception):
    # code: the WebSocket close code of a protocol failure (1002, 1007, 1009...), or the HTTP
    # status of a refused handshake (401...), or None.
    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


def header(op, n, fin=True, masked=True):
    """Frame header (without mask key) for an `n`-byte payload."""
    b0 = (0x80 if fin else 0) | op
    m = 0x80 if masked else 0
    if n < 126:
        return bytes((b0, m | n))
    if n < 65536:
        return bytes((b0, m | 126, n >> 8, n & 255))
    return bytes((b0, m | 127)) + n.to_bytes(8, "big")


def mask(buf, off, n, key):
    """XOR buf[off:off+n] in place with the 4-byte mask `key` (RFC 6455 5.3).

    A plain loop, four bytes a turn: it allocates nothing (a big-integer XOR per chunk is ~3x
    faster but leaves several times the frame's size in garbage on every send).
    """
    k0, k1, k2, k3 = key[0], key[1], key[2], key[3]
    i = off
    end = off + (n & ~3)
    while i < end:
        buf[i] ^= k0
        buf[i + 1] ^= k1
        buf[i + 2] ^= k2
        buf[i + 3] ^= k3
        i += 4
    end = off + n
    j = 0  # the key phase restarts at 0 every 4 bytes
    while i < end:
        buf[i] ^= key[j]
        i += 1
        j += 1


class WsCodec:
    """Sans-I/O client side of RFC 6455.

    Receiving: either `feed(data)` -> list of events, or, without copying, `rx_buf()` (a memoryview
    of exactly the bytes wanted next) filled by the caller followed by `rx_done(n)` -> event or None.
    Frames the codec must answer on its own (pong, close reply, close on error) are queued and
    taken with `pop_out()`. Sending: `text()`, `ping()`, `close()`, `frame()` return one
    buffer holding header, mask key and masked payload, to be written in one call.
    """

    def __init__(self, max_frame=8192, rand=urandom):
        self.max_frame = max_frame
        self.rand = rand
        # Preallocated so that receiving allocates nothing but the message handed out.
        self.buf = bytearray(max_frame)  # reassembly of a (possibly fragmented) data message
        self._ctl = bytearray(125)  # payload of one control frame
        self.head = bytearray(14)  # a frame header, with the longest length
        self.reset()

    def reset(self):
        # raw=True: _TEXT events carry a memoryview into the reassembly buffer instead of a str:
        # no copy and no UTF-8 check; valid only until the next rx_buf()/feed(). json.loads takes it.
        self.raw = False
        self.state = _OPEN
        # (attribute names MicroPython already holds: a new name is a qstr interned for good)
        self.queue = []  # frames the codec answers with by itself (pong, close), for pop_out()
        self.length = 0  # bytes of the current data message received so far
        self._frag = 0  # opcode of the fragmented message in progress; 0 = none
        self.phase = 0  # 0: 2-byte header, 1: extended length, 2: payload
        self._need = 2  # bytes this phase wants
        self.pos = 0  # bytes of this phase received so far

    # ---- receiving

    def rx_buf(self):
        """Where the next received bytes go (exactly as many as the codec wants next)."""
        if self.state == _CLOSED:
            return memoryview(self.head)[0:0]
        if self.phase == 2:
            if self.op >= _OP_CLOSE:
                return memoryview(self._ctl)[self.pos:self._need]
            a = self.length + self.pos
            return memoryview(self.buf)[a:self.length + self._need]
        if self.phase == 1:  # the extended length follows the 2 header bytes
            return memoryview(self.head)[2 + self.pos:2 + self._need]
        return memoryview(self.head)[self.pos:self._need]

    def rx_done(self, n):
        """`n` bytes were written to the last rx_buf(). Returns an event or None."""
        if self.state == _CLOSED or n <= 0:
            return None
        self.pos += n
        if self.pos < self._need:
            return None
        h = self.head
        if self.phase == 2:
            return self.done()
        if self.phase == 1:
            if self._need == 2:
                plen = (h[2] << 8) | h[3]
            else:
                if h[2] & 0x80:
                    return self._fail(1002, _TOP_BIT)
                plen = int.from_bytes(h[2:10], "big")
        else:  # the 2-byte header
            b0 = h[0]
            b1 = h[1]
            op = b0 & 15
            self.fin = b0 & 0x80
            self.op = op
            if b0 & 0x70:
                return self._fail(1002, _RSV)
            if b1 & 0x80:
                return self._fail(1002, _MASKED)
            if op >= _OP_CLOSE:
                if op > _OP_PONG:
                    return self._fail(1002, _OPCODE, op)
                if not self.fin:
                    return self._fail(1002, _FRAG_CTL)
                if (b1 & 127) > 125:
                    return self._fail(1002, _LONG_CTL)
            elif op > _OP_BINARY:
                return self._fail(1002, _OPCODE, op)
            elif op == _OP_CONT:
                if not self._frag:
                    return self._fail(1002, _CONT)
            elif self._frag:
                return self._fail(1002, _IN_PROGRESS)
            plen = b1 & 127
            if plen >= 126:
                self.phase = 1
                self._need = 2 if plen == 126 else 8
                self.pos = 0
                return None
        # the payload length is known
        m = self.max_frame
        if self.op < _OP_CLOSE and self.length + plen > m:
            if self.length:
                return self._fail(1009, _TOO_BIG_MSG, self.length + plen, m)
            return self._fail(1009, _TOO_BIG, plen, m)
        self.phase = 2
        self._need = plen
        self.pos = 0
        if plen == 0:
            return self.done()
        return None

    def feed(self, data):
        """Push received bytes; returns the list of events they complete."""
        evs = []
        src = memoryview(data)
        i = 0
        n = len(data)
        while i < n and self.state != _CLOSED:
            dst = self.rx_buf()
            k = min(len(dst), n - i)
            dst[:k] = src[i:i + k]
            i += k
            ev = self.rx_done(k)
            if ev is not None:
                evs.append(ev)
        return evs

    def done(self):
        op = self.op
        n = self._need
        self.phase = 0  # the next frame's header
        self._need = 2
        self.pos = 0
        if op == _OP_CLOSE:
            c = self._ctl
            if n == 0:
                code = 1005
                reason = ""
            elif n == 1:
                return self._fail(1002, _CLOSE_1)
            else:
                code = (c[0] << 8) | c[1]
                if code < 1000 or code >= 5000 or 1004 <= code <= 1006 or 1015 <= code < 3000:
                    return self._fail(1002, _CLOSE_CODE, code)
                try:
                    reason = str(memoryview(c)[2:n], "utf-8")
                except UnicodeError:
                    return self._fail(1007, _CLOSE_UTF8)
            if self.state == _OPEN:
                self.queue.append(self.frame(_OP_CLOSE, b"" if code == 1005 else c[:2]))
            self.state = _CLOSED
            return (_CLOSE, (code, reason))
        if op > _OP_CLOSE:
            data = bytes(memoryview(self._ctl)[:n])
            if op == _OP_PING:
                if self.state == _OPEN:
                    self.queue.append(self.frame(_OP_PONG, data))
                return (_PING, data)
            return (_PONG, data)
        self.length += n
        if not self.fin:
            if op != _OP_CONT:
                self._frag = op
            return None
        if op == _OP_CONT:
            op = self._frag
        self._frag = 0
        mv = memoryview(self.buf)[:self.length]
        self.length = 0
        if op == _OP_TEXT:
            if self.raw:
                return (_TEXT, mv)
            try:
                return (_TEXT, str(mv, "utf-8"))
            except UnicodeError:
                return self._fail(1007, _TEXT_UTF8)
            except MemoryError:  # no free block for the copy (the GC already ran): refuse, not crash
                return self._fail(1009, "no heap left for a %d-byte message" % len(mv))
        try:
            return (_BINARY, bytes(mv))
        except MemoryError:
            return self._fail(1009, "no heap left for a %d-byte message" % len(mv))

    def _fail(self, code, reason, *args):
        # "Fail the WebSocket connection" (RFC 6455 7.1.7): send a close frame, stop reading.
        # `reason` is one of the _TOP_BIT.. reasons with its arguments, or the text itself
        if self.state == _OPEN:
            self.queue.append(self._close_frame(code, ""))
        self.state = _CLOSED
        self.length = 0
        self._frag = 0
        if type(reason) is not str:
            reason = lazy.call("ws_fail", "reason", reason, args)
        return (_ERROR, (code, reason))

    def pop_out(self):
        """Next frame the codec queued by itself (pong, close reply), or None."""
        if self.queue:
            return self.queue.pop(0)
        return None

    # ---- sending

    def frame(self, op, payload=b"", fin=True, key=None):
        """One masked client frame: header, mask key and masked payload in a single buffer (a
        memoryview of it), to be written in one call. A str payload goes in as UTF-8 directly:
        the payload is copied once, into the frame."""
        buf = bytearray(14)  # room for the longest header and the mask key, in front
        buf.extend(payload)
        n = len(buf) - 14
        h = header(op, n, fin)
        a = 10 - len(h)  # where the header starts
        buf[a:10] = h
        if key is None:
            key = self.rand(4)
        buf[10:14] = key
        mask(buf, 14, n, key)
        return memoryview(buf)[a:]

    def text(self, s, key=None):
        return self.frame(_OP_TEXT, s, True, key)

    def ping(self, payload=b""):
        return self.frame(_OP_PING, payload)

    def _close_frame(self, code, reason):
        r = reason.encode()
        if len(r) > 123:
            r = r[:123]
        return self.frame(_OP_CLOSE, bytes((code >> 8, code & 255)) + r)

    def close(self, code=1000, reason=""):
        """Start the closing handshake: returns the close frame, or None if already closing."""
        if self.state != _OPEN:
            return None
        self.state = _CLOSING
        return self._close_frame(code, reason)
