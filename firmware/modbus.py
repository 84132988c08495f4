# Modbus RTU master: a sans-I/O core (`Master`) and a thin asyncio transport (`Bus`).
#
# The core builds read requests (function codes 03 and 04) into a preallocated buffer, collects
# the reply bytes it is fed, frames the reply by length (known from the function code and byte
# count), checks address, function, byte count and CRC, and decides done / retry / failed from the
# time it is given. It never touches a UART or a clock. `Bus` moves bytes between a UART-like object
# and the core. See docs/metering.md.
import struct
from array import array
from micropython import const
import time

FC_READ_HOLDING = const(3)
FC_READ_INPUT = const(4)

# poll() results
PENDING = const(0)  # reply not complete yet, deadline not reached
DONE = const(1)     # valid reply in resp[3:3 + nbytes]
RETRY = const(2)    # attempt failed, another is allowed: call start() again (after wait_ms())
FAILED = const(3)   # transaction over without data; see status / exc_code
IDLE = const(4)     # no transaction begun yet

# status of the last finished attempt
OK = const(0)
TIMEOUT = const(1)    # no complete reply before the deadline (no byte at all)
CRC = const(2)        # reply of the expected length with a wrong CRC
FRAME = const(3)      # wrong address, function or byte count, or a reply cut short
EXCEPTION = const(4)  # the slave answered with an exception response; code in exc_code

STATUS_NAMES = ("ok", "timeout", "crc", "frame", "exception")
# Exception codes 1..11 (Modbus Application Protocol v1.1b3, section 7); 9 is not assigned.
EXC_NAMES = (
    "Exception0",
    "IllegalFunction",
    "IllegalDataAddress",
    "IllegalDataValue",
    "ServerDeviceFailure",
    "Acknowledge",
    "ServerDeviceBusy",
    "NegativeAcknowledge",
    "MemoryParityError",
    "Exception9",
    "GatewayPathUnavailable",
    "GatewayTargetFailedToRespond",
)

MAX_REGS = const(125)  # largest read the protocol allows (253-byte PDU)


def exc_name(code):
    if 0 < code < len(EXC_NAMES):
        return EXC_NAMES[code]
    return "Exception%d" % code


def _make_table():
    t = array("H", bytes(512))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


# Table-driven CRC: measured on the MicroPython unix port at 60-120 ns/byte against 710-750 ns/byte
# for the bitwise loop (6-10x faster), for 512 bytes of RAM.
_CRC_TABLE = _make_table()


def crc16(buf, n=-1, start=0):
    # CRC-16/MODBUS of buf[start:n] (n=-1: to the end). The frame carries it low byte first.
    if n < 0:
        n = len(buf)
    crc = 0xFFFF
    t = _CRC_TABLE
    for i in range(start, n):
        crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
    return crc


def put_crc(buf, n):
    # Append the CRC of buf[0:n] at buf[n], buf[n+1]; returns the frame length n + 2.
    c = crc16(buf, n)
    buf[n] = c & 0xFF
    buf[n + 1] = c >> 8
    return n + 2


def check_crc(buf, n):
    # True when the last two of the n bytes are the CRC of the ones before.
    if n < 4:
        return False
    c = crc16(buf, n - 2)
    return buf[n - 2] == (c & 0xFF) and buf[n - 1] == (c >> 8)


def build_read(buf, address, fc, reg, count):
    # Read request (03 holding / 04 input registers) into buf[0:8]; returns 8.
    buf[0] = address
    buf[1] = fc
    buf[2] = reg >> 8
    buf[3] = reg & 0xFF
    buf[4] = count >> 8
    buf[5] = count & 0xFF
    return put_crc(buf, 6)


def silence_us(baud):
    # Inter-frame silence t3.5: 3.5 characters of 11 bits; fixed 1750 us above 19200 baud (spec).
    if baud > 19200:
        return 1750
    return (38500000 + baud - 1) // baud


def frame_ms(nbytes, baud):
    # Time on the wire of nbytes at baud (11 bits per character), rounded up.
    return (nbytes * 11000 + baud - 1) // baud


def u16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


_f32 = bytearray(4)  # scratch for word-swapped floats; single-threaded use only


def f32(buf, off, swap=False):
    # IEEE-754 float32 from two registers at buf[off]; swap=True: low word first (CDAB).
    if not swap:
        return struct.unpack_from(">f", buf, off)[0]
    s = _f32
    s[0] = buf[off + 2]
    s[1] = buf[off + 3]
    s[2] = buf[off]
    s[3] = buf[off + 1]
    return struct.unpack_from(">f", s, 0)[0]


def u32(buf, off, swap=False):
    if swap:
        return (u16(buf, off + 2) << 16) | u16(buf, off)
    return (u16(buf, off) << 16) | u16(buf, off + 2)


class Master:
    # One outstanding transaction at a time. Use: begin(); then loop { wait wait_ms(); write
    # req[0:start(now)]; feed(bytes) as they come; poll(now) } until poll() returns DONE or FAILED.
    def __init__(self, baud=9600, timeout_ms=200, retries=2, max_regs=MAX_REGS):
        if max_regs > MAX_REGS:
            max_regs = MAX_REGS
        self.baud = baud
        self.timeout_ms = timeout_ms  # slave turnaround allowance, on top of the frames' wire time
        self.retries = retries        # extra attempts after the first (timeouts, CRC, frame errors)
        self.max_regs = max_regs
        self.silence_ms = (silence_us(baud) + 999) // 1000
        self.req = bytearray(8)
        self.resp = bytearray(5 + 2 * max_regs)
        self.state = IDLE  # PENDING while an attempt is on the wire; DONE/FAILED when over; RETRY between
        self.status = OK
        self.exc_code = 0
        self.nbytes = 0      # data bytes of the last good reply (resp[3:3 + nbytes])
        self._addr = 0
        self._fc = 0
        self._count = 0
        self._n = 0          # reply bytes collected in this attempt
        self._attempt = 0
        self._t0 = 0         # ticks_ms when the request went out
        self._deadline = 0   # ms after _t0
        self._t_idle = 0     # ticks_ms of the last bus activity (tx or rx), for t3.5 silence
        self._idle = True    # no bus activity seen yet
        self.requests = 0    # attempts put on the wire (first tries and retries)
        self.ok = 0
        self.crc_errors = 0
        self.timeouts = 0
        self.exceptions = 0
        self.frame_errors = 0
        self.retries_done = 0

    def begin(self, address, fc, reg, count):
        if count < 1 or count > self.max_regs:
            raise ValueError("count")
        if fc != FC_READ_HOLDING and fc != FC_READ_INPUT:
            raise ValueError("fc")
        build_read(self.req, address, fc, reg, count)
        self._addr = address
        self._fc = fc
        self._count = count
        self._attempt = 0
        self.state = RETRY  # ready for start()
        self.status = OK
        self.exc_code = 0
        self.nbytes = 0
        # whole request and reply on the wire plus the slave's turnaround
        self._deadline = self.timeout_ms + frame_ms(8 + 5 + 2 * count, self.baud)

    def wait_ms(self, now_ms):
        # Silence still owed on the bus before the next request may go out.
        if self._idle:
            return 0
        w = self.silence_ms - time.ticks_diff(now_ms, self._t_idle)
        return w if w > 0 else 0

    def start(self, now_ms):
        # Start an attempt: the caller writes req[0:8] right after. Returns 8.
        if self.state != RETRY:
            raise ValueError("state")
        if self._attempt:
            self.retries_done += 1
        self._attempt += 1
        self.requests += 1
        self._n = 0
        self._t0 = now_ms
        self._t_idle = now_ms
        self._idle = False
        self.state = PENDING
        return 8

    def feed(self, data, n=-1, now_ms=None):
        # Bytes read from the bus. Outside an attempt (late replies, noise) they are dropped but
        # still count as bus activity for the silence before the next request.
        if n < 0:
            n = len(data)
        if n == 0:
            return
        if now_ms is not None:
            self._t_idle = now_ms
            self._idle = False
        if self.state != PENDING:
            return
        r = self.resp
        k = self._n
        room = len(r) - k
        if n > room:
            n = room
        for i in range(n):
            r[k + i] = data[i]
        self._n = k + n

    def _need(self):
        # Reply length implied by the bytes so far: 0 unknown yet, -1 impossible header.
        n = self._n
        r = self.resp
        if n < 2:
            return 0
        if r[0] != self._addr:
            return -1
        if r[1] == (self._fc | 0x80):
            return 5
        if r[1] != self._fc:
            return -1
        if n < 3:
            return 0
        if r[2] != 2 * self._count:
            return -1
        return 5 + r[2]

    def _fail(self, status):
        self.status = status
        if status == TIMEOUT:
            self.timeouts += 1
        elif status == CRC:
            self.crc_errors += 1
        elif status == FRAME:
            self.frame_errors += 1
        if self._attempt <= self.retries:
            self.state = RETRY
        else:
            self.state = FAILED
        return self.state

    def poll(self, now_ms):
        if self.state != PENDING:
            return self.state
        need = self._need()
        if need < 0:
            return self._fail(FRAME)
        if need and self._n >= need:
            r = self.resp
            if not check_crc(r, need):
                return self._fail(CRC)
            if r[1] & 0x80:
                # A definite answer from the slave: not retried.
                self.status = EXCEPTION
                self.exc_code = r[2]
                self.exceptions += 1
                self.state = FAILED
                return FAILED
            self.status = OK
            self.nbytes = r[2]
            self.ok += 1
            self.state = DONE
            return DONE
        if time.ticks_diff(now_ms, self._t0) >= self._deadline:
            return self._fail(FRAME if self._n else TIMEOUT)
        return PENDING

    def reason(self):
        # Short text for the last status: 'timeout', 'crc', 'frame' or the exception's name.
        if self.status == EXCEPTION:
            return exc_name(self.exc_code)
        return STATUS_NAMES[self.status]

    def counters(self):
        return {"requests": self.requests, "ok": self.ok, "crc_errors": self.crc_errors,
                "timeouts": self.timeouts, "exceptions": self.exceptions,
                "frame_errors": self.frame_errors, "retries": self.retries_done}


class Bus:
    # asyncio transport: a UART-like object with write(b), any() and read(n) (readinto(b) is used
    # when present, to avoid allocating). `de`: optional RS-485 driver-enable pin (value(0/1));
    # the UART must then have flush() that returns once the last bit is out (ESP32 machine.UART).
    def __init__(self, uart, baud=9600, timeout_ms=200, retries=2, max_regs=MAX_REGS, de=None,
                 poll_ms=2, ticks_ms=time.ticks_ms):
        import asyncio
        self._asyncio = asyncio
        self.uart = uart
        self.master = Master(baud, timeout_ms, retries, max_regs)
        self.de = de
        self.poll_ms = poll_ms
        self.ticks_ms = ticks_ms
        self.busy = False  # a transaction is in progress (tasks sharing the bus wait their turn)
        self._rx = bytearray(64)
        self._readinto = getattr(uart, "readinto", None)
        if de is not None:
            de.value(0)

    def _pump(self):
        m = self.master
        u = self.uart
        while u.any():
            if self._readinto is not None:
                k = self._readinto(self._rx)
                if not k:
                    return
                m.feed(self._rx, k, self.ticks_ms())
            else:
                b = u.read(64)
                if not b:
                    return
                m.feed(b, len(b), self.ticks_ms())

    def _send(self, buf):
        if self.de is not None:
            self.de.value(1)
            self.uart.write(buf)
            self.uart.flush()
            self.de.value(0)
        else:
            self.uart.write(buf)

    async def transact(self, address, fc, reg, count):
        # One read with retries; returns the final status (OK: data in master.resp[3:3+2*count]).
        m = self.master
        sleep_ms = self._asyncio.sleep_ms
        # A flag, not asyncio.Lock: awaiting Lock.acquire() allocates a coroutine per call.
        while self.busy:
            await sleep_ms(self.poll_ms or 1)
        self.busy = True
        try:
            m.begin(address, fc, reg, count)
            while True:
                self._pump()
                w = m.wait_ms(self.ticks_ms())
                if w:
                    await sleep_ms(w)
                    continue
                m.start(self.ticks_ms())
                self._send(m.req)
                st = PENDING
                while st == PENDING:
                    await sleep_ms(self.poll_ms)
                    self._pump()
                    st = m.poll(self.ticks_ms())
                if st != RETRY:
                    return m.status
        finally:
            self.busy = False
