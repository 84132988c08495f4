# Heap used by the WebSocket codec around a 16 kB message (ESP32 budget), inside MicroPython.
import gc
import ws
from ws import WsCodec


def test_receiving_a_16k_message_allocates_only_the_message():
    c = WsCodec(16384)
    chunk = b"m" * 1024
    gc.collect()
    before = gc.mem_alloc()
    # Two server fragments of 8192 bytes each, arriving in 1 kB pieces as from a socket,
    # written straight into the codec's buffer (rx_buf/rx_done), as WsClient does.
    evs = c.feed(b"\x01\x7e\x20\x00")
    for i in range(16):
        if i == 8:
            evs += c.feed(b"\x80\x7e\x20\x00")
        mv = c.rx_buf()
        mv[:1024] = chunk
        ev = c.rx_done(1024)
        if ev is not None:
            evs.append(ev)
    during = gc.mem_alloc() - before
    gc.collect()
    kept = gc.mem_alloc() - before
    assert len(evs) == 1 and evs[0][0] == ws.TEXT
    assert len(evs[0][1]) == 16384 and evs[0][1].count("m") == 16384
    print("heap: 16k message receive allocated %d bytes (%d live after collect)" % (during, kept))
    assert kept < 16384 + 512
    assert during < 16384 + 2048


def test_sending_a_16k_text_builds_one_frame_without_extra_copies():
    c = WsCodec(64)
    s = "q" * 16384
    gc.collect()
    before = gc.mem_alloc()
    f = c.text(s)
    during = gc.mem_alloc() - before
    assert len(f) == 16384 + 8
    print("heap: 16k text frame build allocated %d bytes" % during)
    assert during < 2 * 16384 + 4096


def test_raw_mode_hands_out_the_message_without_copying_it():
    import json
    c = WsCodec(16384)
    c.raw = True
    gc.collect()
    before = gc.mem_alloc()
    evs = c.feed(b"\x81\x7e\x00\x1e" + b'[2, "id-1", "Heartbeat", {}]  ')
    during = gc.mem_alloc() - before
    kind, mv = evs[0]
    assert kind == ws.TEXT and isinstance(mv, memoryview) and len(mv) == 30
    assert json.loads(mv) == [2, "id-1", "Heartbeat", {}]
    assert during < 1024


def test_message_without_heap_for_its_copy_is_refused_with_1009_not_a_crash():
    c = WsCodec(12000)
    hdr = b"\x81\x7e\x2e\xe0"  # 12000 bytes
    chunk = b"z" * 500
    hog = []
    try:  # leave no free block near 12 kB: fill the heap with 1 kB pieces, then free a few
        while True:
            hog.append(bytearray(1000))
    except MemoryError:
        pass
    del hog[:6]
    gc.collect()
    evs = c.feed(hdr)
    for _ in range(24):
        evs += c.feed(chunk)
    hog = None
    gc.collect()
    assert len(evs) == 1 and evs[0][0] == ws.ERROR and evs[0][1][0] == 1009, evs
    assert "heap" in evs[0][1][1]
