# The closing handshake of ws.WsClient (RFC 6455 7.1.2): send a close frame, wait (bounded) for
# the server's, then drop the socket. Loaded only to close (lazy.py).
import asyncio
from micropython import const

_OPEN = const(0)  # ws_codec state
_WAIT_MS = const(2000)  # for the server's close frame


async def close(c, code):
    s = c.s
    if s is None:
        return
    if c.connected and c.codec.state == _OPEN:
        c._closing = code
        try:
            await asyncio.wait_for_ms(c.send(c.codec.close(code)), 1000)
            if c.wait is None:
                # Nobody is reading: wait here for the server's close frame.
                await asyncio.wait_for_ms(_until_closed(c), _WAIT_MS)
            else:
                t = 0
                while c.s is s and t < _WAIT_MS:
                    await asyncio.sleep_ms(20)
                    t += 20
        except Exception:
            pass
    if c.s is s:  # not yet dropped by the reader, nor replaced by a new connection
        c._drop("closed by the client (%d)" % code)


async def _until_closed(c):
    while await c.recv(True) is not None:
        pass
