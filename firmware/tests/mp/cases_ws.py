# WebSocket cases executed in MicroPython for the hypothesis tests (test_ws_hypothesis.py).
# Bytes travel as hex strings; every result is JSON-serialisable.
from binascii import hexlify, unhexlify
import ws
import ws_handshake

_codecs = {}  # max_frame -> codec, reused so that the worker's heap does not fragment
_tx = ws.WsCodec(0)  # encodes client frames; its receive buffer is never used


def _codec(max_frame):
    c = _codecs.get(max_frame)
    if c is None:
        _codecs.clear()
        c = ws.WsCodec(max_frame)
        _codecs[max_frame] = c
    c.reset()
    return c


def _h(b):
    return hexlify(b).decode()


def _ev(e):
    k, d = e
    if k == ws.TEXT:
        return ["text", d]
    if k == ws.BINARY:
        return ["binary", _h(d)]
    if k == ws.PING:
        return ["ping", _h(d)]
    if k == ws.PONG:
        return ["pong", _h(d)]
    if k == ws.CLOSE:
        return ["close", d[0], d[1]]
    assert k == ws.ERROR, k
    return ["error", d[0], d[1]]


def decode(chunks, max_frame):
    """Feed the hex chunks in order; return the events, the frames queued in answer and the state."""
    c = _codec(max_frame)
    evs = []
    for ch in chunks:
        for e in c.feed(unhexlify(ch)):
            evs.append(_ev(e))
    out = []
    f = c.pop_out()
    while f is not None:
        out.append(_h(f))
        f = c.pop_out()
    return {"events": evs, "out": out, "state": c.state}


def decode_reads(data, reads, max_frame):
    """Like a socket: each read hands over at most reads[i] bytes of `data` (hex), never more than
    the codec asks for (rx_buf/rx_done, as WsClient does). Returns the events."""
    c = _codec(max_frame)
    src = unhexlify(data)
    i = 0
    r = 0
    evs = []
    while i < len(src) and c.state != ws.CLOSED:
        dst = c.rx_buf()
        k = min(len(dst), len(src) - i, reads[r % len(reads)])
        r += 1
        dst[:k] = src[i:i + k]
        i += k
        e = c.rx_done(k)
        if e is not None:
            evs.append(_ev(e))
    return evs


def encode(op, payload, fin, key):
    return _h(_tx.frame(op, unhexlify(payload), fin, unhexlify(key) if key else None))


def encode_text(text_hex, key):
    # The text arrives as hex of its UTF-8: MicroPython's json does not join surrogate pairs.
    return _h(_tx.text(str(unhexlify(text_hex), "utf-8"), unhexlify(key)))


def backoff(base_ms, max_ms, seed, n, reset_after):
    b = ws.Backoff(base_ms, max_ms, seed)
    out = [b.next_ms() for _ in range(n)]
    b.reset()
    return [out, [b.next_ms() for _ in range(reset_after)]]


def liveness(interval_ms, timeout_ms, steps):
    """steps: [op, t] with op 'seen' | 'due' | 'dead'; returns the answers of due/dead."""
    lv = ws.Liveness(interval_ms, timeout_ms)
    lv.reset(0)
    out = []
    for op, t in steps:
        if op == "seen":
            lv.seen(t)
        elif op == "due":
            out.append(lv.due_ping(t))
        else:
            out.append(lv.dead(t))
    return out


def check_response(head, key, subprotocol):
    try:
        ws_handshake.check_response(unhexlify(head), key, subprotocol)
    except ws.WsError as e:
        return [str(e), e.code]
    return None


def quick_and_full_check(head, key, subprotocol):
    # [did the quick test of check_response pass, the full check's refusal or None]
    import ws_refused
    head = unhexlify(head)
    try:
        ws_refused.check(head, ws_handshake.accept_for(key), subprotocol)
        full = None
    except ws.WsError as e:
        full = str(e)
    return [ws_handshake._good(head, key, subprotocol), full]


def big_roundtrip(n, max_frame):
    """n-byte binary message, server frame fed in 1000-byte pieces, plus the client frame header
    for n bytes. Needs a heap of a few times n (run by a worker with a bigger heap)."""
    from hashlib import sha1
    c = ws.WsCodec(max_frame)
    head = ws.header(ws.OP_BINARY, n, True, False)
    c.feed(head)
    piece = bytes(range(250)) * 4
    ev = None
    left = n
    while left:
        k = min(left, 1000)
        for e in c.feed(piece[:k]):
            ev = e
        left -= k
    if ev is None or ev[0] != ws.BINARY:
        return ["no message", repr(ev)[:100]]
    digest = _h(sha1(ev[1]).digest())
    ev = None
    hdr = _h(c.frame(ws.OP_BINARY, b"\x00" * n, True, b"\x00\x00\x00\x00")[:14])
    return [len(head), digest, hdr]
