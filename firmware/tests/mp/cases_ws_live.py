# WsClient scenarios run in MicroPython against CPython servers (test_ws_against_server.py).
# Each function runs one asyncio session and returns what it saw (JSON-serialisable).
import asyncio
import gc
from time import ticks_ms, ticks_diff
from ws import WsClient, WsError


def _err(e):
    return [str(e), e.code]


async def _conversation(url, user, password):
    out = {}
    c = WsClient(url, user, password, ping_interval_ms=100, ping_timeout_ms=300)
    await c.connect()
    out["connected"] = c.connected
    out["nodelay"] = c.nodelay
    await c.send_text("hello")
    out["echo"] = await c.recv_text()
    await c.send_text("fragments please")
    out["fragmented"] = await c.recv_text()
    await c.send_text("ping me")
    out["after_server_ping"] = await c.recv_text()
    await c.send_text("wait")  # server idles 0.6 s: our pings must be answered to stay alive
    out["after_idle"] = await c.recv_text()
    out["connected_after_idle"] = c.connected
    await c.send_text("close me")  # server answers by closing with 4001
    out["after_server_close"] = await c.recv_text()
    out["connected_after_server_close"] = c.connected
    out["error"] = c.error
    return out


async def _big(url, user, password):
    # Heap around receiving big messages: 16 kB zero-copy (recv_raw), 8 kB as a str (recv_text).
    out = {}
    c = WsClient(url, user, password, max_frame=16384)
    await c.connect()
    for how, n in (("raw", 16000), ("text", 8000)):
        await c.send_text("big:%d" % n)
        gc.collect()
        before = gc.mem_alloc()
        if how == "raw":
            m = await c.recv_raw()
            ok = len(m) == n and all(b == 120 for b in m)  # 'x'
        else:
            m = await c.recv_text()
            ok = len(m) == n and m.count("x") == n
        out[how] = [gc.mem_alloc() - before, ok]
        m = None
    await c.close()
    return out


def big(url, user, password):
    return asyncio.run(_big(url, user, password))


def conversation(url, user, password):
    return asyncio.run(_conversation(url, user, password))


async def _client_close(url, user, password):
    c = WsClient(url, user, password)
    await c.connect()
    await c.send_text("hello")
    echo = await c.recv_text()
    await c.close(1000)
    return [echo, c.connected, await c.recv_text(), c.error]


def client_close(url, user, password):
    return asyncio.run(_client_close(url, user, password))


async def _close_while_reading(url, user, password):
    # As the application does: one task blocked in recv_text, another closes the link.
    c = WsClient(url, user, password)
    await c.connect()
    reader = asyncio.create_task(c.recv_text())
    await asyncio.sleep_ms(100)
    t0 = ticks_ms()
    await c.close(1001)
    got = await reader
    return [got, c.connected, c.error, ticks_diff(ticks_ms(), t0)]


def close_while_reading(url, user, password):
    return asyncio.run(_close_while_reading(url, user, password))


async def _oversize(url, user, password, max_frame=16384):
    if max_frame is None:
        c = WsClient(url, user, password)
    else:
        c = WsClient(url, user, password, max_frame=max_frame)
    await c.connect()
    await c.send_text("too big")
    try:
        got = await c.recv_text()
    except WsError as e:
        return [_err(e), c.connected]
    return [["accepted", len(got or "")], c.connected]


def oversize(url, user, password, max_frame=16384):
    # max_frame None: the client's default
    return asyncio.run(_oversize(url, user, password, max_frame))


async def _refused(url, user, password):
    c = WsClient(url, user, password, connect_timeout_ms=3000)
    try:
        await c.connect()
    except WsError as e:
        return [_err(e), c.connected]
    return [["connected"], c.connected]


def refused(url, user, password):
    return asyncio.run(_refused(url, user, password))


async def _dead_link(url, interval_ms, timeout_ms):
    c = WsClient(url, "FG-0001", "secret", ping_interval_ms=interval_ms, ping_timeout_ms=timeout_ms)
    await c.connect()
    t0 = ticks_ms()
    got = await c.recv_text()
    return [got, ticks_diff(ticks_ms(), t0), c.error, c.connected]


def dead_link(url, interval_ms, timeout_ms):
    return asyncio.run(_dead_link(url, interval_ms, timeout_ms))
