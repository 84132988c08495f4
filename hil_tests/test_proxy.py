"""The link proxy: pass, cut, blackhole, delay and restore."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hil_tests.proxy import LinkProxy, ThreadedProxy


class EchoServer:
    """A threaded TCP echo server on loopback."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c: socket.socket) -> None:
        try:
            while data := c.recv(4096):
                c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    e = EchoServer()
    yield e
    e.close()


@pytest.fixture
def link(echo: EchoServer) -> Iterator[ThreadedProxy]:
    p = ThreadedProxy("127.0.0.1", echo.port)
    yield p
    p.close()


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _roundtrip(s: socket.socket, payload: bytes) -> bytes:
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def test_proxy_forwards_bytes_both_ways(link: ThreadedProxy) -> None:
    s = _connect(link.port)
    try:
        assert _roundtrip(s, b"hello frost") == b"hello frost"
        assert _roundtrip(s, b"x" * 100_000) == b"x" * 100_000
    finally:
        s.close()


def test_cut_closes_open_connections_and_refuses_new_ones(link: ThreadedProxy) -> None:
    s = _connect(link.port)
    assert _roundtrip(s, b"a") == b"a"
    link.cut()
    assert s.recv(10) == b"", "the device side sees the connection closed"
    s.close()
    with pytest.raises(ConnectionRefusedError):
        _connect(link.port)
    link.restore()
    s2 = _connect(link.port)
    try:
        assert _roundtrip(s2, b"back") == b"back"
    finally:
        s2.close()


def test_blackhole_keeps_the_socket_but_drops_every_byte(link: ThreadedProxy) -> None:
    s = _connect(link.port)
    try:
        assert _roundtrip(s, b"a") == b"a"
        link.blackhole()
        s.sendall(b"lost")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(10)
        # New connections are accepted but hear nothing either.
        s3 = _connect(link.port)
        s3.settimeout(0.3)
        s3.sendall(b"nothing")
        with pytest.raises(TimeoutError):
            s3.recv(10)
        s3.close()
        link.restore()
        s.settimeout(2)
        assert s.recv(10) == b"", "a stream that lost bytes is closed when the link comes back"
    finally:
        s.close()
    s2 = _connect(link.port)
    try:
        assert _roundtrip(s2, b"ok") == b"ok"
    finally:
        s2.close()


def test_delay_holds_each_chunk_back_and_keeps_order(link: ThreadedProxy) -> None:
    s = _connect(link.port)
    try:
        link.delay(300)
        t0 = time.monotonic()
        assert _roundtrip(s, b"one") == b"one"
        took = time.monotonic() - t0
        assert took >= 0.55, f"echo through a 300 ms each-way delay took only {took:.3f}s"
        for i in range(5):
            s.sendall(f"<{i}>".encode())
        got = b""
        while len(got) < 15:
            got += s.recv(100)
        assert got == b"<0><1><2><3><4>"
        link.restore()
        t0 = time.monotonic()
        assert _roundtrip(s, b"fast") == b"fast"
        assert time.monotonic() - t0 < 0.25
    finally:
        s.close()


def test_proxy_refuses_connections_beyond_its_bound(echo: EchoServer) -> None:
    p = ThreadedProxy("127.0.0.1", echo.port, max_conns=2)
    socks = []
    try:
        for _ in range(2):
            s = _connect(p.port)
            assert _roundtrip(s, b"k") == b"k"
            socks.append(s)
        extra = _connect(p.port)
        extra.settimeout(2)
        assert extra.recv(10) == b""
        extra.close()
        assert p.proxy.refused == 1
    finally:
        for s in socks:
            s.close()
        p.close()


def test_proxy_accepts_loopback_only() -> None:
    with pytest.raises(ValueError):
        LinkProxy("10.0.0.1", 80)
    with pytest.raises(ValueError):
        LinkProxy("127.0.0.1", 80, listen_host="0.0.0.0")


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_tap_records_websocket_text_messages_in_order_both_ways(compression: str | None) -> None:
    from websockets.sync.client import connect
    from websockets.sync.server import serve

    def handler(ws) -> None:  # echo with a prefix
        for msg in ws:
            ws.send(f"re:{msg}")

    server = serve(handler, "127.0.0.1", 0, compression=compression)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    p = ThreadedProxy("127.0.0.1", server.socket.getsockname()[1], tap=True)
    try:
        with connect(f"ws://127.0.0.1:{p.port}/x", compression=compression) as ws:
            ws.send('[2,"1","Heartbeat",{}]')
            assert ws.recv() == 're:[2,"1","Heartbeat",{}]'
            ws.send(["frag", "mented"])  # one message in two frames
            assert ws.recv() == "re:fragmented"
            big = "x" * 70_000  # 64-bit length field
            ws.send(big)
            assert ws.recv() == "re:" + big
        time.sleep(0.2)
        got = [(m.conn, m.direction, m.text) for m in p.messages]
        assert got == [(1, "up", '[2,"1","Heartbeat",{}]'), (1, "down", 're:[2,"1","Heartbeat",{}]'),
                       (1, "up", "fragmented"), (1, "down", "re:fragmented"),
                       (1, "up", big), (1, "down", "re:" + big)]
    finally:
        p.close()
        server.shutdown()
