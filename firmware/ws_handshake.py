# RFC 6455 opening handshake (client side): the pure helpers (request bytes out, response head
# checked) and connect(), the body of WsClient.connect. Loaded by ws.WsClient for each connect
# and dropped again (lazy.py): a board keeps this code out of RAM while connected.
from os import urandom
from time import ticks_ms
from binascii import b2a_base64
from hashlib import sha1
from micropython import const
import lazy
from ws_codec import WsError

_GUID = const(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")  # RFC 6455 1.3


def _b64(data):
    return b2a_base64(data)[:-1].decode()


def accept_for(key):
    """Sec-WebSocket-Accept value a server must answer to Sec-WebSocket-Key `key` (str)."""
    return _b64(sha1(key.encode() + _GUID).digest())


def make_key(rand=urandom):
    return _b64(rand(16))


def handshake_request(host, port, path, key, user=None, password=None, subprotocol=None):
    """The HTTP upgrade request as bytes (written in one call by the shell)."""
    h = host if ":" not in host else "[" + host + "]"
    req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
          "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, h, port, key)
    if subprotocol:
        req += "Sec-WebSocket-Protocol: %s\r\n" % subprotocol
    if user is not None:
        req += "Authorization: Basic %s\r\n" % _b64(("%s:%s" % (user, password or "")).encode())
    return (req + "\r\n").encode()


def check_response(head, key, subprotocol=None):
    """Check the server's handshake response head (bytes up to the blank line, or what arrived
    before the connection dropped). Returns None if the upgrade is good, else raises WsError.

    A good response passes the quick test here; anything else goes to ws_refused.check (loaded
    only then), which accepts what it can and says exactly why it refuses the rest."""
    if not _good(head, key, subprotocol):
        lazy.call("ws_refused", "check", head, accept_for(key), subprotocol)


def _good(head, key, subprotocol):
    # True only for a response ws_refused.check accepts too: the same parsing, and a repeated
    # header or anything unusual goes there
    try:
        lines = str(head, "utf-8").split("\n")
    except UnicodeError:
        return False
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith("HTTP/") or status[1] != "101":
        return False
    hdr = {}
    for line in lines[1:-1]:  # the last piece follows the last newline: not a whole line
        line = line.strip()
        if not line:
            break
        i = line.find(":")
        name = line[:i].strip().lower()
        if i <= 0 or name in hdr:
            return False
        hdr[name] = line[i + 1:].strip()
    else:
        return False  # cut short before the blank line
    return (hdr.get("upgrade", "").lower() == "websocket"
            and "upgrade" in [t.strip().lower() for t in hdr.get("connection", "").split(",")]
            and hdr.get("sec-websocket-accept") == accept_for(key)
            and "sec-websocket-extensions" not in hdr
            and hdr.get("sec-websocket-protocol") == subprotocol)


async def connect(c):
    # WsClient.connect for client `c`: socket, handshake, keep-alive task; raises WsError
    import asyncio

    if c.s is not None:
        c._drop("reconnecting")
    try:
        await asyncio.wait_for_ms(_open(c), c.connect_timeout_ms)
    except asyncio.TimeoutError:
        c._drop("handshake timed out")
        raise WsError("connect to %s:%d timed out after %d ms" % (c.host, c.port, c.connect_timeout_ms))
    except WsError as e:
        c._drop(str(e))
        raise
    except (OSError, EOFError) as e:
        c._drop("connect failed")
        raise WsError("connect to %s:%d failed: %r" % (c.host, c.port, e))


async def _open(c):
    import asyncio

    if c.secure:
        ctx = c.ssl
        if ctx is None:
            try:
                import ssl

                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            except ImportError:
                raise WsError("wss:// needs the ssl module, which this build lacks")
        s = (await asyncio.open_connection(c.host, c.port, ctx))[0]
    else:
        s = (await asyncio.open_connection(c.host, c.port))[0]
    c.s = s
    # OCPP frames are small and latency matters more than packet count; Nagle would hold a
    # CALLRESULT back until the previous segment is acknowledged. IPPROTO_TCP=6, TCP_NODELAY=1
    # (numbers, as MicroPython's socket module does not export the names). The stream keeps
    # the socket in `.s`; under TLS that is the TLS wrapper, which may refuse the option.
    try:
        s.s.setsockopt(6, 1, 1)
        c.nodelay = True
    except Exception:
        c.nodelay = False
    key = make_key()
    s.write(handshake_request(c.host, c.port, c.path, key, c.user, c.password, c.subprotocol))
    await s.drain()
    head = bytearray()
    while True:
        line = await s.readline()
        if not line:
            check_response(head, key, c.subprotocol)  # raises: refused or cut short
        head += line
        if len(head) > 4096:
            raise WsError("handshake: response head longer than 4096 bytes")
        if line == b"\r\n" or line == b"\n":
            break
    check_response(head, key, c.subprotocol)
    c.codec.reset()
    c.liveness.reset(ticks_ms())
    c.done = False
    c._closing = 0
    c.error = None
    c.connected = True
    c.task = asyncio.create_task(c._keepalive(s))
