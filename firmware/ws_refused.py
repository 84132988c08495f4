# The full check of a WebSocket handshake response, loaded by ws_handshake.check_response only
# when its quick test does not pass: it accepts what RFC 6455 allows (LF-only lines, repeated
# headers) and raises WsError saying exactly why it refuses the rest. (It imports nothing loaded
# on demand: ws_handshake may already be out of sys.modules while its connect() runs.)
from ws_codec import WsError


def check(head, accept, subprotocol=None):
    # ws_handshake.check_response for a response its quick test did not pass; `accept` is the
    # Sec-WebSocket-Accept value the key asks for
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
    if hdr.get("sec-websocket-accept") != accept:
        raise WsError("handshake: bad Sec-WebSocket-Accept")
    if "sec-websocket-extensions" in hdr:
        raise WsError("handshake: server chose extensions we did not offer")
    proto = hdr.get("sec-websocket-protocol")
    if proto != subprotocol and (proto or subprotocol):
        if subprotocol:
            raise WsError("handshake: server did not accept subprotocol %s (got %r)" % (subprotocol, proto))
        raise WsError("handshake: server chose subprotocol %r we did not offer" % proto)
