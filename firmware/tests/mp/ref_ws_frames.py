# Reference WebSocket frames for the MicroPython suites, written byte by byte from RFC 6455 5.2
# and independent of the code under test (ws_codec.header / ws_codec.mask).
import ws
from ws import WsCodec

KEY = b"\x37\xfa\x21\x3d"


def srv(op, payload=b"", fin=True, rsv=0, masked=False, ext=None):
    # Reference server frame, written byte by byte from RFC 6455 5.2 (independent of ws.header).
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    out = bytearray()
    out.append((0x80 if fin else 0) | rsv | op)
    m = 0x80 if masked else 0
    if ext is None:
        ext = 0 if n < 126 else (2 if n < 65536 else 8)
    if ext == 0:
        out.append(m | n)
    elif ext == 2:
        out.append(m | 126)
        out.append(n >> 8)
        out.append(n & 255)
    else:
        out.append(m | 127)
        for i in range(7, -1, -1):
            out.append((n >> (8 * i)) & 255)
    if masked:
        out += KEY
        for i in range(n):
            out.append(payload[i] ^ KEY[i % 4])
    else:
        out += payload
    return bytes(out)


def unmask(frame):
    # Reference decoder of one client frame: (fin, opcode, payload); checks the mask bit is set.
    b0 = frame[0]
    b1 = frame[1]
    assert b1 & 0x80, "client frame not masked"
    n = b1 & 127
    i = 2
    if n == 126:
        n = (frame[2] << 8) | frame[3]
        i = 4
    elif n == 127:
        n = 0
        for j in range(8):
            n = (n << 8) | frame[2 + j]
        i = 10
    key = frame[i:i + 4]
    i += 4
    assert len(frame) == i + n, "frame length does not match its header"
    p = bytearray(n)
    for j in range(n):
        p[j] = frame[i + j] ^ key[j % 4]
    return bool(b0 & 0x80), b0 & 15, bytes(p)


def close_code(frame):
    fin, op, p = unmask(frame)
    assert op == ws.OP_CLOSE
    return (p[0] << 8) | p[1] if p else None


def fails_with(data, code, max_frame=64):
    c = WsCodec(max_frame)
    evs = c.feed(data)
    assert evs and evs[-1][0] == ws.ERROR, evs
    assert evs[-1][1][0] == code, evs
    assert close_code(c.pop_out()) == code
    return evs[-1][1][1]
