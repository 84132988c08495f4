# Closing handshake, oversize refusal and protocol violations inside MicroPython.
import ws
from ws import WsCodec
from ref_ws_frames import srv, unmask, close_code, fails_with


def test_oversize_frame_is_refused_with_close_1009():
    c = WsCodec(100)
    evs = c.feed(srv(1, "y" * 101))
    assert evs[0][0] == ws.ERROR and evs[0][1][0] == 1009
    assert close_code(c.pop_out()) == 1009
    assert c.state == ws.CLOSED
    assert c.feed(srv(1, "late")) == []


def test_frame_of_exactly_max_is_accepted():
    c = WsCodec(100)
    assert c.feed(srv(1, "y" * 100)) == [(ws.TEXT, "y" * 100)]


def test_oversize_fragmented_message_is_refused_with_close_1009():
    c = WsCodec(100)
    evs = c.feed(srv(1, "a" * 60, fin=False) + srv(0, "b" * 41))
    assert evs[0][0] == ws.ERROR and evs[0][1][0] == 1009
    assert "message" in evs[0][1][1]
    assert close_code(c.pop_out()) == 1009


def test_server_close_is_echoed_and_reported():
    c = WsCodec(64)
    evs = c.feed(srv(8, b"\x03\xe9going away"))
    assert evs == [(ws.CLOSE, (1001, "going away"))]
    assert close_code(c.pop_out()) == 1001
    assert c.state == ws.CLOSED


def test_server_close_without_code_reports_1005_and_is_answered_empty():
    c = WsCodec(64)
    assert c.feed(srv(8)) == [(ws.CLOSE, (1005, ""))]
    assert unmask(c.pop_out()) == (True, ws.OP_CLOSE, b"")


def test_client_initiated_close_completes_without_a_second_close_frame():
    c = WsCodec(64)
    f = c.close(1000)
    assert close_code(f) == 1000 and c.state == ws.CLOSING
    assert c.close(1000) is None
    assert c.feed(srv(1, "still") + srv(8, b"\x03\xe8")) == [(ws.TEXT, "still"), (ws.CLOSE, (1000, ""))]
    assert c.pop_out() is None
    assert c.state == ws.CLOSED


def test_protocol_violations_fail_the_connection_with_1002():
    assert "masked" in fails_with(srv(1, "hi", masked=True), 1002)
    assert "reserved" in fails_with(srv(1, "hi", rsv=0x40), 1002)
    assert "opcode" in fails_with(srv(3, "hi"), 1002)
    assert "opcode" in fails_with(srv(11, "hi"), 1002)
    assert "continuation" in fails_with(srv(0, "hi"), 1002)
    assert "in progress" in fails_with(srv(1, "a", fin=False) + srv(1, "b"), 1002)
    assert "fragmented control" in fails_with(srv(9, "a", fin=False), 1002)
    assert "125" in fails_with(srv(9, "a" * 126), 1002, 512)
    assert "1-byte" in fails_with(srv(8, b"\x03"), 1002)
    assert "close code" in fails_with(srv(8, b"\x03\xed"), 1002)  # 1005 must not be sent
    assert "top bit" in fails_with(b"\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 1002)


def test_invalid_utf8_text_fails_with_1007():
    fails_with(srv(1, b"ok\xff"), 1007)
    fails_with(srv(8, b"\x03\xe8\xc3"), 1007)
