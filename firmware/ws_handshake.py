# RFC 6455 opening handshake (client side), pure: request bytes out, response head checked.
from os import urandom
from binascii import b2a_base64
from hashlib import sha1
from ws_codec import WsError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _b64(data):
    return b2a_base64(data)[:-1].decode()


def accept_for(key):
    """Sec-WebSocket-Accept value a server must answer to Sec-WebSocket-Key `key` (str)."""
    return _b64(sha1(key.encode() + _GUID).digest())


def make_key(rand=urandom):
    return _b64(rand(16))


def parse_url(url):
    """'ws://host:port/path' -> (secure, host, port, path). Raises WsError if it is not a ws URL."""
    if url.startswith("ws://"):
        secure = False
        rest = url[5:]
    elif url.startswith("wss://"):
        secure = True
        rest = url[6:]
    else:
        raise WsError("not a ws:// or wss:// URL: %s" % url)
    i = rest.find("/")
    if i < 0:
        hostport, path = rest, "/"
    else:
        hostport, path = rest[:i], rest[i:]
    port = 443 if secure else 80
    if hostport.startswith("["):  # IPv6 literal
        j = hostport.find("]")
        if j < 0:
            raise WsError("bad host in URL: %s" % url)
        host = hostport[1:j]
        tail = hostport[j + 1:]
    else:
        j = hostport.rfind(":")
        host = hostport if j < 0 else hostport[:j]
        tail = "" if j < 0 else hostport[j:]
    if tail:
        try:
            port = int(tail[1:])
        except ValueError:
            raise WsError("bad port in URL: %s" % url)
        if tail[0] != ":" or not 0 < port < 65536:
            raise WsError("bad port in URL: %s" % url)
    if not host:
        raise WsError("no host in URL: %s" % url)
    return secure, host, port, path


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
    before the connection dropped). Returns None if the upgrade is good, else raises WsError."""
    if not head:
        raise WsError("handshake: connection closed by the server before any response")
    try:
        text = str(head, "utf-8")
    except UnicodeError:
        raise WsError("handshake: response is not text")
    lines = text.split("\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith("HTTP/"):
        raise WsError("handshake: not an HTTP response: %r" % lines[0][:60])
    code = status[1]
    if code != "101":
        try:
            n = int(code)
        except ValueError:
            n = None
        if n == 401:
            raise WsError("handshake refused: unauthorized (HTTP 401): check station id and password", 401)
        why = status[2].strip() if len(status) > 2 else ""
        raise WsError("handshake refused: HTTP %s %s" % (code, why), n)
    hdr = {}
    complete = False
    for line in lines[1:-1]:  # the last piece follows the last newline: not a whole line
        line = line.strip()
        if not line:
            complete = True
            break
        i = line.find(":")
        if i <= 0:
            raise WsError("handshake: bad header line: %r" % line[:60])
        name = line[:i].strip().lower()
        val = line[i + 1:].strip()
        hdr[name] = hdr[name] + ", " + val if name in hdr else val
    if not complete:
        raise WsError("handshake: connection closed before the end of the response")
    if hdr.get("upgrade", "").lower() != "websocket":
        raise WsError("handshake: no 'Upgrade: websocket'")
    if "upgrade" not in [t.strip().lower() for t in hdr.get("connection", "").split(",")]:
        raise WsError("handshake: no 'Connection: Upgrade'")
    if hdr.get("sec-websocket-accept") != accept_for(key):
        raise WsError("handshake: bad Sec-WebSocket-Accept")
    if "sec-websocket-extensions" in hdr:
        raise WsError("handshake: server chose extensions we did not offer")
    proto = hdr.get("sec-websocket-protocol")
    if proto != subprotocol and (proto or subprotocol):
        if subprotocol:
            raise WsError("handshake: server did not accept subprotocol %s (got %r)" % (subprotocol, proto))
        raise WsError("handshake: server chose subprotocol %r we did not offer" % proto)

