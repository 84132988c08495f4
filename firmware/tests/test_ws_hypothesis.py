"""Hypothesis generates WebSocket traffic in CPython; the firmware's codec decodes it in MicroPython.

Server frames are built and client frames are checked by a reference codec written here from
RFC 6455 section 5.2, independent of the firmware's.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MicroPythonWorker

CLOSED = 2  # ws.CLOSED


@pytest.fixture(scope="module")
def mp() -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter (ESP32-sized heap) for every example of this module."""
    worker = MicroPythonWorker()
    yield worker
    worker.close()


def server_frame(op: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it, with the shortest length encoding."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def client_frame(data: bytes) -> tuple[bool, int, bytes, bytes]:
    """Decode one client frame: (fin, opcode, mask key, unmasked payload); checks the RFC's musts."""
    b0, b1 = data[0], data[1]
    assert b0 & 0x70 == 0, "reserved bits set"
    assert b1 & 0x80, "client frame not masked"
    n = b1 & 0x7F
    i = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", data, 2)
        i = 4
        assert n >= 126, "16-bit length used for a short payload"
    elif n == 127:
        (n,) = struct.unpack_from("!Q", data, 2)
        i = 10
        assert n >= 65536, "64-bit length used for a payload under 64 KiB"
    key = data[i:i + 4]
    i += 4
    assert len(data) == i + n, "frame length does not match its header"
    payload = bytes(b ^ key[j % 4] for j, b in enumerate(data[i:]))
    return bool(b0 & 0x80), b0 & 0x0F, key, payload


def split(draw: st.DrawFn, data: bytes, most: int = 8) -> list[bytes]:
    """Cut `data` at hypothesis-chosen byte boundaries (pieces may be empty)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=most)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


control = st.tuples(st.sampled_from([9, 10]), st.binary(max_size=125))


@st.composite
def traffic(draw: st.DrawFn) -> tuple[bytes, list[str], list[list]]:
    """Text messages cut into fragments, with pings/pongs between messages and between fragments;
    returns (stream, the stream cut into chunks (hex), the events expected in order)."""
    data = b""
    expected: list[list] = []

    def add_control() -> None:
        nonlocal data
        op, p = draw(control)
        data += server_frame(op, p)
        expected.append(["ping" if op == 9 else "pong", p.hex()])

    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            add_control()
            continue
        text = draw(st.text(max_size=150))
        pieces = split(draw, text.encode(), most=4)
        for k, piece in enumerate(pieces):
            fin = k == len(pieces) - 1
            data += server_frame(1 if k == 0 else 0, piece, fin)
            if not fin and draw(st.booleans()):
                add_control()
        expected.append(["text", text])
    chunks = [c.hex() for c in split(draw, data)]
    return data, chunks, expected


@settings(max_examples=300, deadline=None)
@given(traffic())
def test_any_fragmentation_and_any_split_reassembles_every_message_exactly(mp, case) -> None:
    _, chunks, expected = case
    got = mp.call("cases_ws", "decode", chunks, 4096)
    assert got["events"] == expected
    pings = [bytes.fromhex(e[1]) for e in expected if e[0] == "ping"]
    answers = [client_frame(bytes.fromhex(f)) for f in got["out"]]
    assert [(fin, op, p) for fin, op, _, p in answers] == [(True, 10, p) for p in pings]


@settings(max_examples=100, deadline=None)
@given(traffic(), st.lists(st.integers(1, 300), min_size=1, max_size=5))
def test_socket_reads_of_any_size_give_the_same_events(mp, case, reads) -> None:
    data, _, expected = case
    assert mp.call("cases_ws", "decode_reads", data.hex(), reads, 4096) == expected


@st.composite
def client_frames(draw: st.DrawFn) -> tuple[int, bytes, bool, bytes]:
    op = draw(st.sampled_from([0, 1, 2, 8, 9, 10]))
    if op >= 8:
        return op, draw(st.binary(max_size=125)), True, draw(st.binary(min_size=4, max_size=4))
    size = draw(st.one_of(st.integers(0, 130), st.integers(120, 1500)))
    payload = draw(st.binary(min_size=size, max_size=size))
    return op, payload, draw(st.booleans()), draw(st.binary(min_size=4, max_size=4))


@settings(max_examples=150, deadline=None)
@given(client_frames())
def test_client_frames_are_masked_minimal_and_decode_to_the_payload(mp, frame) -> None:
    op, payload, fin, key = frame
    out = bytes.fromhex(mp.call("cases_ws", "encode", op, payload.hex(), fin, key.hex()))
    assert client_frame(out) == (fin, op, key, payload)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400), st.binary(min_size=4, max_size=4))
def test_client_text_frames_carry_utf8(mp, text, key) -> None:
    out = bytes.fromhex(mp.call("cases_ws", "encode_text", text.encode().hex(), key.hex()))
    assert client_frame(out) == (True, 1, key, text.encode())


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_messages_over_the_maximum_are_refused_with_close_1009(mp, data) -> None:
    max_frame = data.draw(st.integers(1, 600))
    size = data.draw(st.integers(max_frame + 1, max_frame + 300))
    pieces = split(data.draw, b"x" * size, most=3)
    stream = b"".join(server_frame(1 if k == 0 else 0, p, k == len(pieces) - 1) for k, p in enumerate(pieces))
    got = mp.call("cases_ws", "decode", [c.hex() for c in split(data.draw, stream)], max_frame)
    assert [e[:2] for e in got["events"]] == [["error", 1009]]
    assert got["state"] == CLOSED
    fin, op, _, payload = client_frame(bytes.fromhex(got["out"][-1]))
    assert (op, payload[:2]) == (8, struct.pack("!H", 1009))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_garbage_never_crashes_and_decodes_the_same_however_it_is_split(mp, data) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=300),
                              st.lists(st.sampled_from([b"\x81", b"\x01", b"\x80", b"\x89", b"\x88",
                                                        b"\x7e", b"\x7f", b"\x00", b"\x05", b"ab"]),
                                       max_size=60).map(b"".join)))
    whole = mp.call("cases_ws", "decode", [raw.hex()], 64)
    pieces = mp.call("cases_ws", "decode", [c.hex() for c in split(data.draw, raw)], 64)
    assert pieces["events"] == whole["events"]
    kinds = [e[0] for e in whole["events"]]
    assert set(kinds) <= {"text", "binary", "ping", "pong", "close", "error"}
    if "error" in kinds or "close" in kinds:
        assert kinds[-1] in ("error", "close") and whole["state"] == CLOSED
    for f in whole["out"]:
        assert client_frame(bytes.fromhex(f))[1] in (8, 10)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 200000), st.integers(0, 2**32 - 1), st.integers(1, 25))
def test_backoff_doubles_within_jitter_never_exceeds_max_and_resets(mp, base, max_ms, seed, n) -> None:
    delays, after_reset = mp.call("cases_ws", "backoff", base, max_ms, seed, n, 2)
    cap = min(base, max_ms)
    for d in delays:
        assert cap // 2 <= d <= cap <= max_ms
        cap = min(cap * 2, max_ms)
    cap = min(base, max_ms)
    assert cap // 2 <= after_reset[0] <= cap


@st.composite
def liveness_steps(draw: st.DrawFn) -> list[list]:
    t = 0
    steps = []
    for _ in range(draw(st.integers(1, 30))):
        t += draw(st.integers(0, 700))
        steps.append([draw(st.sampled_from(["seen", "due", "dead"])), t])
    return steps


def liveness_model(interval: int, timeout: int, steps: list[list]) -> list[bool]:
    """What stale-link detection must answer: ping after `interval` of silence (one at a time),
    dead when a ping got no frame back within `timeout`."""
    last, ping = 0, None
    out = []
    for op, t in steps:
        if op == "seen":
            last, ping = t, None
        elif op == "due":
            due = interval > 0 and ping is None and t - last >= interval
            if due:
                last = ping = t
            out.append(due)
        else:
            out.append(ping is not None and t - ping >= timeout)
    return out


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 2000), liveness_steps())
def test_liveness_pings_on_silence_and_declares_dead_only_after_an_unanswered_ping(mp, iv, to, steps) -> None:
    assert mp.call("cases_ws", "liveness", iv, to, steps) == liveness_model(iv, to, steps)


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@settings(max_examples=60, deadline=None)
@given(st.permutations(["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}",
                        "Sec-WebSocket-Protocol: ocpp1.6", "Server: x", "Date: today"]),
       st.sampled_from([str.lower, str.upper, str.title]), st.booleans())
def test_any_header_order_and_case_passes_and_a_wrong_accept_fails(mp, headers, case, break_accept) -> None:
    lines = []
    for h in headers:
        name, value = h.split(": ", 1)
        if break_accept and name == "Sec-WebSocket-Accept":
            value = "x" + value[1:]
        lines.append(f"{case(name)}: {value}")
    head = ("HTTP/1.1 101 Switching Protocols\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()
    got = mp.call("cases_ws", "check_response", head.hex(), KEY, "ocpp1.6")
    if break_accept:
        assert got is not None and "Accept" in got[0]
    else:
        assert got is None


_GOOD_HEADERS = ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}",
                 "Sec-WebSocket-Protocol: ocpp1.6"]
_ODD_HEADERS = ["Upgrade: h2c", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Accept: x",
                "Sec-WebSocket-Protocol: ocpp2.0.1", "Sec-WebSocket-Extensions: permessage-deflate",
                "  Server: x  ", "bad line", ": empty", "X-Folded: a\nSec-WebSocket-Extensions: y",
                "Connection: close"]


def _response_heads() -> Iterator[tuple[bytes, str | None]]:
    """Handshake responses near a good one: each good header left out in turn, each odd header
    added (also twice, and to a response missing a good one), CRLF or LF lines, whole or cut short."""
    variants: list[list[str]] = [list(_GOOD_HEADERS)]
    for i in range(len(_GOOD_HEADERS)):
        variants.append(_GOOD_HEADERS[:i] + _GOOD_HEADERS[i + 1:])
    for odd in _ODD_HEADERS + _GOOD_HEADERS:
        variants.append([odd] + _GOOD_HEADERS)
        variants.append(_GOOD_HEADERS + [odd, odd])
        variants.append(_GOOD_HEADERS[1:] + [odd])
    for status in ("HTTP/1.1 101 Switching Protocols", "HTTP/1.0 200 OK", "101 HTTP/1.1"):
        for headers in variants:
            for eol in ("\r\n", "\n"):
                for whole in (True, False):
                    head = (status + eol + eol.join(headers) + eol + (eol if whole else "")).encode()
                    for subprotocol in ("ocpp1.6", None):
                        yield head, subprotocol


def test_the_quick_handshake_check_accepts_nothing_the_full_check_refuses(mp) -> None:
    accepted = 0
    for head, subprotocol in _response_heads():
        quick, full = mp.call("cases_ws", "quick_and_full_check", head.hex(), KEY, subprotocol)
        if quick:
            accepted += 1
            assert full is None, (head, full)
    assert accepted > 0  # the quick test does pass good responses


@pytest.mark.parametrize("n", [65535, 65536])
def test_frames_at_the_16_and_64_bit_length_boundary_roundtrip(n: int) -> None:
    """65535/65536-byte frames need more heap than an ESP32 has, so this worker gets 600 kB."""
    worker = MicroPythonWorker(heap="600k")
    try:
        head_len, digest, client_head = worker.call("cases_ws", "big_roundtrip", n, 70000)
    finally:
        worker.close()
    assert head_len == (4 if n < 65536 else 10)
    assert digest == hashlib.sha1(expected_payload(n)).hexdigest()
    head = bytes.fromhex(client_head)
    assert head[0] == 0x82 and head[1] == 0x80 | (126 if n < 65536 else 127)
    assert int.from_bytes(head[2:4 if n < 65536 else 10], "big") == n


def expected_payload(n: int) -> bytes:
    """The payload big_roundtrip feeds: 1000-byte pieces of 0..249 repeated, cut to n bytes."""
    piece = bytes(range(250)) * 4
    return (piece * (n // 1000 + 1))[:n]
