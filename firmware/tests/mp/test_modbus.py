# Modbus RTU master core and transport, run inside MicroPython.
import gc
import time
import asyncio
from binascii import unhexlify
import modbus
from cases_modbus import Slave, FakeUart, ReplayUart, transact


def _reply(address, fc, words):
    b = bytearray(5 + 2 * len(words))
    b[0] = address
    b[1] = fc
    b[2] = 2 * len(words)
    for i, w in enumerate(words):
        b[3 + 2 * i] = w >> 8
        b[4 + 2 * i] = w & 0xFF
    modbus.put_crc(b, 3 + 2 * len(words))
    return bytes(b)


def _exc(address, fc, code):
    b = bytearray(5)
    b[0] = address
    b[1] = fc | 0x80
    b[2] = code
    modbus.put_crc(b, 3)
    return bytes(b)


def test_crc_of_read_request_01_03_0000_000a_is_c5_cd():
    b = bytearray(8)
    assert modbus.build_read(b, 1, 3, 0, 10) == 8
    assert bytes(b) == unhexlify("01030000000ac5cd")


def test_crc_matches_published_check_value_and_other_known_frames():
    assert modbus.crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    b = bytearray(8)
    modbus.build_read(b, 0x11, 3, 0x006B, 3)  # the spec's example request
    assert bytes(b) == unhexlify("1103006b00037687")
    modbus.build_read(b, 1, 4, 0x0000, 2)
    assert bytes(b) == unhexlify("01040000000271cb")


def test_check_crc_accepts_good_and_rejects_flipped_bit():
    b = bytearray(unhexlify("01030000000ac5cd"))
    assert modbus.check_crc(b, 8)
    b[3] ^= 0x01
    assert not modbus.check_crc(b, 8)


def test_silence_is_three_and_a_half_characters_at_9600_and_fixed_above_19200():
    assert modbus.silence_us(9600) == 4011   # 3.5 * 11 bits / 9600 baud
    assert modbus.silence_us(19200) == 2006
    assert modbus.silence_us(38400) == 1750
    assert modbus.silence_us(115200) == 1750
    assert modbus.Master(baud=9600).silence_ms == 5
    assert modbus.Master(baud=115200).silence_ms == 2


def test_reply_words_are_delivered_when_complete():
    m = modbus.Master(retries=0)
    m.begin(7, 4, 0x48, 2)
    assert m.req[0] == 7 and m.req[1] == 4
    st = transact(m, [_reply(7, 4, [0x1234, 0xABCD])])
    assert st == modbus.DONE and m.status == modbus.OK
    assert m.nbytes == 4
    assert modbus.u16(m.resp, 3) == 0x1234 and modbus.u16(m.resp, 5) == 0xABCD
    assert m.ok == 1 and m.requests == 1


def test_reply_arriving_in_fragments_is_reassembled():
    m = modbus.Master(retries=0)
    m.begin(1, 3, 0, 3)
    r = _reply(1, 3, [1, 2, 3])
    m.start(0)
    for i in range(len(r) - 1):
        m.feed(r[i:i + 1], 1, 1)
        assert m.poll(1) == modbus.PENDING
    m.feed(r[-1:], 1, 2)
    assert m.poll(2) == modbus.DONE
    assert modbus.u16(m.resp, 7) == 3


def test_exception_codes_one_to_eleven_are_named_and_not_retried():
    names = ("IllegalFunction", "IllegalDataAddress", "IllegalDataValue", "ServerDeviceFailure",
             "Acknowledge", "ServerDeviceBusy", "NegativeAcknowledge", "MemoryParityError",
             "Exception9", "GatewayPathUnavailable", "GatewayTargetFailedToRespond")
    for code in range(1, 12):
        m = modbus.Master(retries=2)
        m.begin(1, 3, 0x2000, 2)
        st = transact(m, [_exc(1, 3, code)])
        assert st == modbus.FAILED
        assert m.status == modbus.EXCEPTION and m.exc_code == code
        assert m.reason() == names[code - 1]
        assert m.exceptions == 1 and m.retries_done == 0 and m.requests == 1


def test_crc_error_is_retried_and_counted_then_good_reply_accepted():
    m = modbus.Master(retries=2)
    m.begin(1, 3, 0, 2)
    bad = bytearray(_reply(1, 3, [5, 6]))
    bad[4] ^= 0x40
    assert transact(m, [bytes(bad)]) == modbus.RETRY
    assert m.status == modbus.CRC and m.reason() == "crc"
    assert transact(m, [_reply(1, 3, [5, 6])], 50) == modbus.DONE
    assert m.crc_errors == 1 and m.retries_done == 1 and m.requests == 2 and m.ok == 1


def test_timeouts_are_bounded_by_retries_and_counted():
    m = modbus.Master(baud=9600, timeout_ms=100, retries=2)
    m.begin(1, 3, 0, 10)
    t = 0
    assert transact(m, [], t) == modbus.RETRY
    assert transact(m, [], t) == modbus.RETRY
    assert transact(m, [], t) == modbus.FAILED
    assert m.status == modbus.TIMEOUT and m.reason() == "timeout"
    assert m.timeouts == 3 and m.retries_done == 2 and m.requests == 3 and m.ok == 0
    try:
        m.start(t)
    except ValueError:
        pass
    else:
        raise AssertionError("start after FAILED must be refused")


def test_deadline_covers_the_reply_time_on_the_wire():
    m = modbus.Master(baud=9600, timeout_ms=100, retries=0)
    m.begin(1, 4, 0, 76)  # 157-byte reply: about 180 ms at 9600 baud
    m.start(0)
    assert m.poll(100 + 150) == modbus.PENDING
    assert m.poll(100 + 200) == modbus.FAILED
    assert m.timeouts == 1


def test_timeout_works_across_ticks_wraparound():
    period = time.ticks_add(0, -1) + 1  # 2**30 on the ESP32, larger on the unix port
    t0 = period - 30
    m = modbus.Master(baud=115200, timeout_ms=50, retries=0)
    m.begin(1, 3, 0, 1)
    m.start(t0)
    assert m.poll((t0 + 40) % period) == modbus.PENDING
    assert m.poll((t0 + 60) % period) == modbus.FAILED


def test_reply_from_another_address_is_a_frame_error():
    m = modbus.Master(retries=0)
    m.begin(1, 3, 0, 1)
    assert transact(m, [_reply(2, 3, [9])]) == modbus.FAILED
    assert m.status == modbus.FRAME and m.frame_errors == 1


def test_wrong_function_or_byte_count_is_a_frame_error():
    m = modbus.Master(retries=0)
    m.begin(1, 3, 0, 2)
    assert transact(m, [_reply(1, 4, [1, 2])]) == modbus.FAILED
    assert m.status == modbus.FRAME
    m.begin(1, 3, 0, 2)
    assert transact(m, [_reply(1, 3, [1, 2, 3])]) == modbus.FAILED
    assert m.status == modbus.FRAME


def test_reply_cut_short_fails_at_the_deadline_as_frame_error():
    m = modbus.Master(retries=0)
    m.begin(1, 3, 0, 2)
    assert transact(m, [_reply(1, 3, [1, 2])[:6]]) == modbus.FAILED
    assert m.status == modbus.FRAME and m.timeouts == 0


def test_trailing_bytes_after_a_complete_reply_are_ignored():
    m = modbus.Master(retries=0)
    m.begin(1, 3, 0, 1)
    assert transact(m, [_reply(1, 3, [0xBEEF]) + b"\x00\xff"]) == modbus.DONE
    assert modbus.u16(m.resp, 3) == 0xBEEF


def test_late_bytes_after_a_failed_attempt_are_dropped_and_delay_the_next_request():
    m = modbus.Master(baud=9600, timeout_ms=20, retries=1)
    m.begin(1, 3, 0, 1)
    m.start(0)
    assert m.poll(1000) == modbus.RETRY
    m.feed(_reply(1, 3, [1]), -1, 1005)  # the late answer to the first attempt
    assert m.wait_ms(1005) == m.silence_ms
    assert m.wait_ms(1005 + m.silence_ms) == 0
    m.start(1010)
    assert m.poll(1010) == modbus.PENDING  # nothing of the late reply was kept


def test_float32_in_both_word_orders():
    b = unhexlify("43668000")  # 230.5
    assert modbus.f32(b, 0) == 230.5
    assert modbus.f32(unhexlify("80004366"), 0, True) == 230.5
    assert modbus.u32(unhexlify("00010002"), 0) == 0x10002
    assert modbus.u32(unhexlify("00020001"), 0, True) == 0x10002


def test_a_good_transaction_allocates_nothing():
    m = modbus.Master(retries=0)
    r = _reply(1, 3, [1, 2, 3, 4])
    m.begin(1, 3, 0, 4)
    transact(m, [r], 0)  # warm up
    gc.collect()
    a0 = gc.mem_alloc()
    for t in range(10):
        m.begin(1, 3, 0, 4)
        m.start(t)
        m.feed(r, len(r), t)
        assert m.poll(t) == modbus.DONE
    assert gc.mem_alloc() - a0 == 0


def test_bus_reads_registers_over_a_uart_like_object():
    s = Slave(address=3, fcs=(4,), regs={0x48: 0x4120, 0x49: 0})
    bus = modbus.Bus(FakeUart(s, chunk=5), baud=115200, timeout_ms=50, retries=2)

    async def go():
        return await bus.transact(3, 4, 0x48, 2)

    assert asyncio.run(go()) == modbus.OK
    assert modbus.f32(bus.master.resp, 3) == 10.0
    assert bus.master.counters() == {"requests": 1, "ok": 1, "crc_errors": 0, "timeouts": 0,
                                     "exceptions": 0, "frame_errors": 0, "retries": 0}


def test_bus_retries_through_crc_noise_and_silence():
    s = Slave(address=1, fcs=(3,), regs={0: 42})
    s.corrupt = 1
    s.silent = 1
    bus = modbus.Bus(FakeUart(s), baud=115200, timeout_ms=20, retries=2)

    async def go():
        return await bus.transact(1, 3, 0, 1)

    assert asyncio.run(go()) == modbus.OK
    c = bus.master.counters()
    assert modbus.u16(bus.master.resp, 3) == 42
    assert c["timeouts"] == 1 and c["crc_errors"] == 1 and c["retries"] == 2 and c["requests"] == 3


def test_bus_reports_exception_without_retrying():
    s = Slave(address=1, fcs=(3,))
    s.exception = 2
    bus = modbus.Bus(FakeUart(s), baud=115200, timeout_ms=20, retries=2)

    async def go():
        return await bus.transact(1, 3, 0x9000, 2)

    assert asyncio.run(go()) == modbus.EXCEPTION
    assert bus.master.reason() == "IllegalDataAddress"
    assert s.requests == 1


def test_bus_drives_the_rs485_driver_enable_pin_around_each_request():
    class Pin:
        def __init__(self):
            self.log = []

        def value(self, v):
            self.log.append(v)

    class Uart(FakeUart):
        def write(self, b):
            assert pin.log[-1] == 1, "DE must be high while transmitting"
            return FakeUart.write(self, b)

    pin = Pin()
    s = Slave(address=1, fcs=(3,), regs={0: 7})
    bus = modbus.Bus(Uart(s), baud=115200, timeout_ms=20, de=pin)

    async def go():
        return await bus.transact(1, 3, 0, 1)

    assert asyncio.run(go()) == modbus.OK
    assert pin.log == [0, 1, 0]


def test_bus_transaction_steady_state_allocation_is_small():
    r = _reply(1, 3, [1, 2])
    bus = modbus.Bus(ReplayUart([r]), baud=115200, timeout_ms=20, retries=0, poll_ms=0)

    async def go(n):
        for _ in range(n):
            assert await bus.transact(1, 3, 0, 2) == modbus.OK

    asyncio.run(go(2))
    gc.collect()
    a0 = gc.mem_alloc()
    asyncio.run(go(10))
    per = (gc.mem_alloc() - a0) // 10
    print("bus transaction heap bytes", per)
    # only the coroutine frames asyncio needs; the byte path itself allocates nothing
    assert per < 400
