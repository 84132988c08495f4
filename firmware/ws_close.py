# The closing handshake of ws.WsClient (RFC 6455 7.1.2): send a close frame, wait (bounded) for
# the server's, then drop the socket. Loaded only to close (lazy.py).
import asyncio
from micropython import const

_OPEN = const(0)  # ws_codec state


async def close(c, code):
    s = c._s
    if s is None:
        return
    if c.connected and c.codec.state == _OPEN:
        c._closing = code
        try:
            await asyncio.wait_for_ms(c._send(c.codec.close(code)), 1000)
            if c._rx_task is None:
                # Nobody is reading: wait here for the server's close frame.
                await asyncio.wait_for_ms(_until_closed(c), c.close_timeout_ms)
            else:
                t = 0
                while c._s is s and t < c.close_timeout_ms:
                    await asyncio.sleep_ms(20)
                    t += 20
        except Exception:
            pass
    if c._s is s:  # not yet dropped by the reader, nor replaced by a new connection
        c._drop("closed by the client (%d)" % code)


async def _until_closed(c):
    while await c._recv(True) is not None:
        pass
