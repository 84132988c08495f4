"""The firmware's WsClient, running in MicroPython, against real servers on loopback: a
`websockets` 17 server (subprotocol ocpp1.6, HTTP basic auth) and hand-written raw servers that
misbehave on purpose (wrong Sec-WebSocket-Accept, silence)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, basic_auth, serve

from firmware.tests.mp_bridge import MicroPythonWorker

USER, PASSWORD = "FG-0001", "secret"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


@pytest.fixture(scope="module")
def mp() -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter (ESP32-sized heap) running the client scenarios."""
    worker = MicroPythonWorker()
    yield worker
    worker.close()


async def run_mp(mp: MicroPythonWorker, fn: str, *args: Any, timeout: float = 30) -> Any:
    """Run cases_ws_live.fn in MicroPython while this event loop keeps serving."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(mp.call, "cases_ws_live", fn, *args), timeout)
    except TimeoutError:
        mp.proc.kill()
        raise


async def central_system(conn: ServerConnection) -> None:
    """A tiny central system: echoes text and acts on a few commands."""
    async for msg in conn:
        if msg == "fragments please":
            await conn.send(["frag", "ment", "ed ", "message"])  # one message, four frames
        elif msg == "ping me":
            pong = await conn.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
            await conn.send("pong received")
        elif msg == "wait":
            await asyncio.sleep(0.6)
            await conn.send("still here")
        elif isinstance(msg, str) and msg.startswith("big:"):
            await conn.send("x" * int(msg[4:]))
        elif msg == "too big":
            await conn.send("y" * 20000)
        elif msg == "close me":
            await conn.close(4001, "server says bye")
        else:
            await conn.send("echo:" + str(msg))


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int | None]]]:
    """websockets server on a free loopback port; yields (station url, close codes it saw)."""
    closes: list[int | None] = []

    async def handler(conn: ServerConnection) -> None:
        try:
            await central_system(conn)
        finally:
            closes.append(conn.close_code)

    auth = basic_auth(realm="ocpp", check_credentials=lambda u, p: (u, p) == (USER, PASSWORD))
    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"], process_request=auth) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp/{USER}", closes


async def test_station_talks_echo_fragments_pings_and_server_close(server, mp) -> None:
    url, closes = server
    r = await run_mp(mp, "conversation", url, USER, PASSWORD)
    assert r["connected"] and r["nodelay"]
    assert r["echo"] == "echo:hello"
    assert r["fragmented"] == "fragmented message"
    assert r["after_server_ping"] == "pong received"
    assert r["after_idle"] == "still here" and r["connected_after_idle"]
    assert r["after_server_close"] is None and not r["connected_after_server_close"]
    assert "4001" in r["error"]
    await asyncio.sleep(0.1)
    assert closes == [4001]


async def test_big_messages_over_the_socket_cost_the_heap_one_copy_or_none(server) -> None:
    url, _ = server
    worker = MicroPythonWorker()  # fresh interpreter: the heap not yet cut up by earlier scenarios
    try:
        r = await run_mp(worker, "big", url, USER, PASSWORD)
    finally:
        worker.close()
    (raw_bytes, raw_ok), (text_bytes, text_ok) = r["raw"], r["text"]
    print(f"heap: 16000-byte message via recv_raw allocated {raw_bytes} B; "
          f"8000-byte message via recv_text {text_bytes} B")
    assert raw_ok and text_ok
    assert raw_bytes < 4096  # memoryviews and asyncio bookkeeping, whatever the size
    assert 8000 <= text_bytes < 8000 + 4096


async def test_client_close_completes_the_closing_handshake(server, mp) -> None:
    url, closes = server
    r = await run_mp(mp, "client_close", url, USER, PASSWORD)
    assert r == ["echo:hello", False, None, "closed by the client (1000)"]
    await asyncio.sleep(0.1)
    assert closes == [1000]


async def test_close_from_another_task_ends_the_pending_receive(server, mp) -> None:
    url, closes = server
    got, connected, error, close_ms = await run_mp(mp, "close_while_reading", url, USER, PASSWORD)
    assert got is None and not connected and error == "closed by the client (1001)"
    assert close_ms < 1000  # the server's close frame ended it, not the 2 s close timeout
    await asyncio.sleep(0.1)
    assert closes == [1001]


async def test_default_max_frame_is_8k_and_a_bigger_message_is_refused_with_close_1009(server, mp) -> None:
    url, closes = server
    (message, code), connected = await run_mp(mp, "oversize", url, USER, PASSWORD, None)
    assert code == 1009 and "20000" in message and "8192" in message
    assert not connected
    await asyncio.sleep(0.2)
    assert closes == [1009]


async def test_message_over_max_frame_is_refused_with_close_1009(server, mp) -> None:
    url, closes = server
    (message, code), connected = await run_mp(mp, "oversize", url, USER, PASSWORD)
    assert code == 1009 and "20000" in message and "16384" in message
    assert not connected
    await asyncio.sleep(0.2)
    assert closes == [1009]


async def test_wrong_password_or_unknown_station_is_refused_as_unauthorized(server, mp) -> None:
    url, closes = server
    for user, password in ((USER, "wrong"), ("FG-9999", PASSWORD)):
        (message, code), connected = await run_mp(mp, "refused", url, user, password)
        assert "unauthorized" in message and code == 401 and not connected
    assert closes == []


async def test_server_without_the_ocpp16_subprotocol_is_refused(mp) -> None:
    async with serve(central_system, "127.0.0.1", 0) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        (message, _), connected = await run_mp(mp, "refused", f"ws://127.0.0.1:{port}/", USER, PASSWORD)
    assert "subprotocol ocpp1.6" in message and not connected


async def test_closed_port_gives_a_clear_connect_error(mp) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (message, _), connected = await run_mp(mp, "refused", f"ws://127.0.0.1:{port}/", USER, PASSWORD)
    assert "failed" in message and not connected


class RawServer:
    """Answers the upgrade by hand (optionally with a wrong accept), then reads and never replies."""

    def __init__(self, wrong_accept: bool = False) -> None:
        self.wrong_accept = wrong_accept
        self.received = bytearray()
        self.url = ""
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.on_client, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ocpp/{USER}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server
        self.server.close()

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)sec-websocket-key: *(\S+)", head)
        assert m, head
        accept = base64.b64encode(hashlib.sha1(m.group(1) + GUID).digest())
        if self.wrong_accept:
            accept = base64.b64encode(hashlib.sha1(m.group(1)).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n")
        await writer.drain()
        while data := await reader.read(4096):
            self.received += data
        writer.close()


async def test_bad_accept_from_the_server_is_refused(mp) -> None:
    async with RawServer(wrong_accept=True) as raw:
        (message, _), connected = await run_mp(mp, "refused", raw.url, USER, PASSWORD)
    assert "Sec-WebSocket-Accept" in message and not connected


async def test_silent_server_is_declared_dead_one_ping_timeout_after_the_ping(mp) -> None:
    async with RawServer() as raw:
        got, elapsed_ms, error, connected = await run_mp(mp, "dead_link", raw.url, 150, 250)
        await asyncio.sleep(0.1)
    assert got is None and not connected
    assert "dead" in error
    assert 350 <= elapsed_ms < 1500  # 150 ms of silence, a ping, 250 ms without an answer
    b0, b1 = raw.received[0], raw.received[1]
    assert (b0, b1 & 0x80) == (0x89, 0x80), "the first frame the server got is not a masked ping"
    n = b1 & 0x7F
    assert len(raw.received) >= 6 + n
    assert struct.unpack("!B", raw.received[:1])[0] & 0x0F == 9
