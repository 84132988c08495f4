# Opening handshake and URL parsing inside MicroPython.
import ws_handshake
import ws_url
from ws import WsError


def test_handshake_request_carries_key_version_subprotocol_and_basic_auth():
    r = ws_handshake.handshake_request("10.0.0.2", 9000, "/ocpp/FG-1", "a2V5", "FG-1", "s3cret:x", "ocpp1.6")
    t = r.decode()
    assert t.startswith("GET /ocpp/FG-1 HTTP/1.1\r\n") and t.endswith("\r\n\r\n")
    assert "\r\nHost: 10.0.0.2:9000\r\n" in t
    assert "\r\nUpgrade: websocket\r\n" in t and "\r\nConnection: Upgrade\r\n" in t
    assert "\r\nSec-WebSocket-Key: a2V5\r\n" in t and "\r\nSec-WebSocket-Version: 13\r\n" in t
    assert "\r\nSec-WebSocket-Protocol: ocpp1.6\r\n" in t
    # base64("FG-1:s3cret:x")
    assert "\r\nAuthorization: Basic RkctMTpzM2NyZXQ6eA==\r\n" in t


def test_handshake_key_is_16_random_bytes_in_base64():
    import binascii
    k1 = ws_handshake.make_key()
    assert len(binascii.a2b_base64(k1)) == 16 and k1 != ws_handshake.make_key()


def test_accept_matches_the_rfc_6455_example():
    assert ws_handshake.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _resp(status="101 Switching Protocols", accept=None, proto="ocpp1.6", extra=""):
    h = "HTTP/1.1 %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" % status
    if accept is not None:
        h += "Sec-WebSocket-Accept: %s\r\n" % accept
    if proto:
        h += "Sec-WebSocket-Protocol: %s\r\n" % proto
    return (h + extra + "\r\n").encode()


def _refusal(head, sub="ocpp1.6"):
    try:
        ws_handshake.check_response(head, "dGhlIHNhbXBsZSBub25jZQ==", sub)
    except WsError as e:
        return e
    raise AssertionError("accepted: %r" % head)


def test_good_upgrade_response_is_accepted_with_any_header_case():
    good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert ws_handshake.check_response(_resp(accept=good), "dGhlIHNhbXBsZSBub25jZQ==", "ocpp1.6") is None
    head = b"HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n" \
           b"sec-websocket-accept: " + good.encode() + b"\r\nSEC-WEBSOCKET-PROTOCOL: ocpp1.6\r\n\r\n"
    assert ws_handshake.check_response(head, "dGhlIHNhbXBsZSBub25jZQ==", "ocpp1.6") is None


def test_bad_accept_is_refused():
    assert "Accept" in str(_refusal(_resp(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")))
    assert "Accept" in str(_refusal(_resp()))


def test_401_is_refused_as_unauthorized():
    e = _refusal(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n")
    assert "unauthorized" in str(e) and e.code == 401
    e = _refusal(b"HTTP/1.1 401 Unauthorized\r\n")  # server hung up mid-head
    assert "unauthorized" in str(e)


def test_other_refusals_name_the_status():
    e = _refusal(b"HTTP/1.1 404 Not Found\r\n\r\n")
    assert "404" in str(e) and e.code == 404
    assert "HTTP" in str(_refusal(b"SSH-2.0-OpenSSH\r\n\r\n"))
    assert "before any response" in str(_refusal(b""))


def test_missing_or_other_subprotocol_is_refused():
    good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "ocpp1.6" in str(_refusal(_resp(accept=good, proto=None)))
    assert "ocpp1.6" in str(_refusal(_resp(accept=good, proto="ocpp2.0.1")))


def test_response_without_upgrade_or_cut_short_is_refused():
    good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "Upgrade" in str(_refusal(_resp(accept=good).replace(b"Upgrade: websocket\r\n", b"")))
    assert "closed" in str(_refusal(_resp(accept=good)[:-2]))
    assert "extensions" in str(_refusal(_resp(accept=good, extra="Sec-WebSocket-Extensions: x\r\n")))


def test_url_parsing():
    assert ws_url.parse_url("ws://127.0.0.1:9000/ocpp/FG-0001") == \
        (False, "127.0.0.1", 9000, "/ocpp/FG-0001")
    assert ws_url.parse_url("ws://example.org") == (False, "example.org", 80, "/")
    assert ws_url.parse_url("wss://example.org/a?b=c") == (True, "example.org", 443, "/a?b=c")
    assert ws_url.parse_url("ws://[::1]:8080/x") == (False, "::1", 8080, "/x")
    for bad in ("http://x/", "ws://:80/", "ws://h:0/", "ws://h:99999/", "ws://h:port/"):
        try:
            ws_url.parse_url(bad)
        except WsError:
            continue
        raise AssertionError(bad)


def test_a_refused_handshake_leaves_neither_check_loaded():
    # both load on demand (lazy.py); this suite imports ws_handshake itself, so drop it first
    import asyncio
    import sys
    import ws

    sys.modules.pop('ws_handshake', None)

    class _Stream:  # a server that answers the upgrade with 401
        s = None

        def write(self, data):
            pass

        async def drain(self):
            pass

        async def readline(self):
            return self.lines.pop(0) if self.lines else b''

    stream = _Stream()
    stream.lines = [b'HTTP/1.1 401 Unauthorized\r\n', b'\r\n']

    async def open_connection(host, port, ssl=None):
        return stream, stream

    real = asyncio.open_connection
    asyncio.open_connection = open_connection
    try:
        c = ws.WsClient('ws://127.0.0.1:9/ocpp/X', 'X', 'pw', max_frame=512)
        try:
            asyncio.run(c.connect())
            raise AssertionError('connected')
        except ws.WsError as e:
            assert e.code == 401, e
    finally:
        asyncio.open_connection = real
    assert 'ws_handshake' not in sys.modules and 'ws_refused' not in sys.modules
