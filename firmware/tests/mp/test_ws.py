# WebSocket framing inside MicroPython: masking, lengths, fragmentation, control frames.
import ws
from ws import WsCodec
from ref_ws_frames import KEY, srv, unmask


def test_client_text_frame_is_masked_with_the_key_and_unmasks_to_the_text():
    c = WsCodec(64)
    f = c.text("hello", KEY)
    assert f[0] == 0x81 and f[1] == 0x85
    assert bytes(f[2:6]) == KEY
    assert bytes(f[6:]) != b"hello"
    assert unmask(f) == (True, ws.OP_TEXT, b"hello")


def test_client_mask_key_is_random_per_frame():
    c = WsCodec(64)
    keys = set(bytes(c.text("x")[2:6]) for _ in range(20))
    assert len(keys) > 15


def test_mask_equals_bytewise_xor_for_every_length_up_to_200_and_any_offset():
    src = bytes((i * 7 + 3) & 255 for i in range(200))
    for n in range(201):
        for off in (0, 1, 6):
            buf = bytearray(off) + bytearray(src[:n]) + b"zz"
            ws.mask(buf, off, n, KEY)
            assert buf[:off] == bytearray(off) and buf[off + n:] == b"zz"
            for i in range(n):
                assert buf[off + i] == src[i] ^ KEY[i % 4], (n, off, i)


def test_client_frames_of_0_125_126_127_and_4096_bytes_roundtrip():
    c = WsCodec(64)
    for n in (0, 1, 125, 126, 127, 4096):
        p = bytes(range(32, 128)) * (n // 96 + 1)
        p = p[:n]
        f = c.frame(ws.OP_TEXT, p)
        hl = 6 if n < 126 else 8
        assert len(f) == hl + n, n
        assert unmask(f) == (True, ws.OP_TEXT, p)


def test_header_uses_7_16_and_64_bit_lengths_at_125_126_65535_65536():
    assert ws.header(ws.OP_TEXT, 125) == b"\x81\xfd"
    assert ws.header(ws.OP_TEXT, 126) == b"\x81\xfe\x00\x7e"
    assert ws.header(ws.OP_TEXT, 65535) == b"\x81\xfe\xff\xff"
    assert ws.header(ws.OP_TEXT, 65536) == b"\x81\xff\x00\x00\x00\x00\x00\x01\x00\x00"
    assert ws.header(ws.OP_CONT, 3, fin=False) == b"\x00\x83"


def test_server_text_of_0_125_126_and_max_bytes_received_whole():
    c = WsCodec(4096)
    for n in (0, 125, 126, 127, 1000, 4096):
        p = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" * (n // 26 + 1))[:n]
        assert c.feed(srv(1, p)) == [(ws.TEXT, p)], n


def test_receive_header_decodes_65535_and_65536_lengths_before_refusing_them():
    c = WsCodec(1000)
    ev = c.feed(b"\x81\x7e\xff\xff")
    assert ev == [(ws.ERROR, (1009, "frame of 65535 bytes > max 1000"))]
    c = WsCodec(1000)
    ev = c.feed(b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00")
    assert ev == [(ws.ERROR, (1009, "frame of 65536 bytes > max 1000"))]
    c = WsCodec(1000)
    ev = c.feed(b"\x81\x7e\x03\xe8")  # exactly the maximum: waits for the payload
    assert ev == [] and len(c.rx_buf()) == 1000


def test_non_minimal_length_encoding_is_accepted():
    c = WsCodec(64)
    assert c.feed(srv(1, "abc", ext=2) + srv(1, "de", ext=8)) == [(ws.TEXT, "abc"), (ws.TEXT, "de")]


def test_bytes_fed_one_at_a_time_give_the_same_events():
    data = srv(1, "x" * 130) + srv(9, "p") + srv(1, "ab", fin=False) + srv(0, "cd") + srv(8, b"\x03\xe8bye")
    whole = WsCodec(512).feed(data)
    c = WsCodec(512)
    evs = []
    for i in range(len(data)):
        evs += c.feed(data[i:i + 1])
    assert evs == whole
    assert [e[0] for e in evs] == [ws.TEXT, ws.PING, ws.TEXT, ws.CLOSE]


def test_fragmented_message_is_reassembled():
    c = WsCodec(64)
    evs = c.feed(srv(1, "Boot", fin=False) + srv(0, "Noti", fin=False) + srv(0, "fication"))
    assert evs == [(ws.TEXT, "BootNotification")]


def test_fragment_may_be_empty_and_split_a_utf8_character():
    c = WsCodec(64)
    e = "é€".encode()
    evs = c.feed(srv(1, e[:1], fin=False) + srv(0, b"", fin=False) + srv(0, e[1:]))
    assert evs == [(ws.TEXT, "é€")]


def test_ping_between_fragments_is_answered_and_the_message_stays_intact():
    c = WsCodec(64)
    evs = c.feed(srv(1, "[2,", fin=False) + srv(9, "hb") + srv(10, "") + srv(0, '"x"]'))
    assert evs == [(ws.PING, b"hb"), (ws.PONG, b""), (ws.TEXT, '[2,"x"]')]
    pong = c.pop_out()
    assert unmask(pong) == (True, ws.OP_PONG, b"hb")
    assert c.pop_out() is None


def test_binary_message_is_reported_as_bytes():
    c = WsCodec(64)
    assert c.feed(srv(2, b"\x00\xff", fin=False) + srv(0, b"\x01")) == [(ws.BINARY, b"\x00\xff\x01")]
