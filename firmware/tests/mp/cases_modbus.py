# Cases for the Modbus/meter hypothesis tests (called from CPython through MicroPythonWorker), and
# MicroPython-side test helpers: a tiny register-image slave and a fake UART.
# Arguments and results are JSON-serialisable: frames travel as hex strings.
import struct
from binascii import hexlify, unhexlify
import modbus
import meter


def _hex(b):
    return hexlify(b).decode()


def crc(data_hex):
    return modbus.crc16(unhexlify(data_hex))


def build(address, fc, reg, count):
    b = bytearray(8)
    modbus.build_read(b, address, fc, reg, count)
    return _hex(b)


def transact(m, chunks, now_ms=0):
    # Run one attempt of Master m over the given reply chunks; returns the poll() result.
    m.start(now_ms)
    st = modbus.PENDING
    for c in chunks:
        m.feed(c, len(c), now_ms)
        st = m.poll(now_ms)
        if st != modbus.PENDING:
            return st
    return m.poll(now_ms + m._deadline)


def parse(address, fc, reg, count, frame_hex):
    # One request/reply through the Master core, no retries. Returns status and the words read.
    m = modbus.Master(baud=9600, timeout_ms=100, retries=0)
    m.begin(address, fc, reg, count)
    st = transact(m, [unhexlify(frame_hex)])
    out = {"done": st == modbus.DONE, "status": modbus.STATUS_NAMES[m.status],
           "reason": m.reason(), "exc": m.exc_code, "words": None}
    if st == modbus.DONE:
        out["words"] = [modbus.u16(m.resp, 3 + 2 * i) for i in range(m.nbytes // 2)]
    return out


def f32(data_hex, swap):
    # the decoded value as the 8 bytes of its double: a float's text form on MicroPython is not
    # always exact (subnormals lose their last digit), its bytes are
    return hexlify(struct.pack('>d', modbus.f32(unhexlify(data_hex), 0, swap))).decode()


def _meter(model, address, invert, opts):
    opts = opts or {}
    return meter.Meter(model, address, invert, max_power_w=opts.get("max_power_w", 50000),
                       margin_wh=opts.get("margin_wh", 20), dead_after=opts.get("dead_after", 3),
                       max_gap=opts.get("max_gap", 64), max_regs=opts.get("max_regs", 80))


def plan(model, address, opts=None):
    # The read requests one cycle of the meter sends, as hex frames.
    mt = _meter(model, address, False, opts)
    return [build(address, mt.fc, mt.block_reg(i), mt.block_count(i)) for i in range(mt.nblocks)]


def _cycle(mt, master, replies, now_ms):
    # One meter cycle from reply frames (hex, or None for no answer); returns accepted or not.
    mt.begin()
    for i in range(mt.nblocks):
        master.begin(mt.address, mt.fc, mt.block_reg(i), mt.block_count(i))
        r = replies[i] if i < len(replies) else None
        st = transact(master, [unhexlify(r)] if r else [], now_ms)
        if st != modbus.DONE:
            mt.fail(now_ms, master.reason())
            return False
        mt.decode(i, master.resp)
    return mt.commit(now_ms)


def sequence(model, address, invert, steps, opts=None, keys=None):
    # steps: [[now_ms, [reply hex or None per block]], ...] -> a snapshot after each step (only
    # `keys` of it when given: a long sequence of full snapshots does not fit the test heap as JSON)
    mt = _meter(model, address, invert, opts)
    master = modbus.Master(baud=9600, timeout_ms=100, retries=0)
    out = []
    for now_ms, replies in steps:
        accepted = _cycle(mt, master, replies, now_ms)
        snap = mt.snapshot()
        snap["accepted"] = accepted
        out.append(snap if keys is None else {k: snap[k] for k in keys})
    return out


def decode(model, address, invert, replies, opts=None):
    return sequence(model, address, invert, [[1000, replies]], opts)[0]


# ---- MicroPython-side helpers for the test suites ---------------------------------------------

class Slave:
    # A register image answering 03/04 reads; regs: {address: word}.
    def __init__(self, address=1, fcs=(3, 4), regs=None):
        self.address = address
        self.fcs = fcs
        self.regs = regs if regs is not None else {}
        self.exception = 0   # answer with this exception code when set
        self.silent = 0      # do not answer the next N requests
        self.corrupt = 0     # flip a bit in the next N replies
        self.requests = 0

    def set_f32(self, reg, value, swap=False):
        b = struct.pack(">f", value)
        hi = (b[0] << 8) | b[1]
        lo = (b[2] << 8) | b[3]
        self.regs[reg] = lo if swap else hi
        self.regs[reg + 1] = hi if swap else lo

    def set_u32(self, reg, value, swap=False):
        hi = (value >> 16) & 0xFFFF
        lo = value & 0xFFFF
        self.regs[reg] = lo if swap else hi
        self.regs[reg + 1] = hi if swap else lo

    def reply(self, req):
        if len(req) != 8 or not modbus.check_crc(req, 8) or req[0] != self.address:
            return None
        self.requests += 1
        if self.silent:
            self.silent -= 1
            return None
        fc = req[1]
        if self.exception or fc not in self.fcs:
            b = bytearray(5)
            b[0] = self.address
            b[1] = fc | 0x80
            b[2] = self.exception or 1
            modbus.put_crc(b, 3)
            return bytes(b)
        reg = (req[2] << 8) | req[3]
        count = (req[4] << 8) | req[5]
        b = bytearray(5 + 2 * count)
        b[0] = self.address
        b[1] = fc
        b[2] = 2 * count
        for i in range(count):
            w = self.regs.get(reg + i, 0)
            b[3 + 2 * i] = w >> 8
            b[4 + 2 * i] = w & 0xFF
        modbus.put_crc(b, 3 + 2 * count)
        if self.corrupt:
            self.corrupt -= 1
            b[3] ^= 0x10
        return bytes(b)


class FakeUart:
    # UART-like object whose far end is a Slave: write() puts the reply in the receive buffer.
    # chunk: deliver at most this many bytes per readinto (replies arrive in pieces).
    def __init__(self, slave, chunk=64):
        self.slave = slave
        self.chunk = chunk
        self.rx = bytearray()
        self.written = 0

    def write(self, b):
        self.written += 1
        r = self.slave.reply(bytes(b))
        if r:
            self.rx.extend(r)
        return len(b)

    def flush(self):
        pass

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        n = min(len(buf), len(self.rx), self.chunk)
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n


class ReplayUart:
    # Allocation-free UART-like object for heap measurements: the k-th write is answered with
    # replies[k % len(replies)] (prebuilt frames), copied into a preallocated receive buffer.
    def __init__(self, replies):
        self.replies = replies
        self.k = 0
        self.buf = bytearray(512)
        self.n = 0
        self.pos = 0

    def write(self, b):
        r = self.replies[self.k % len(self.replies)]
        self.k += 1
        for i in range(len(r)):
            self.buf[i] = r[i]
        self.n = len(r)
        self.pos = 0
        return len(b)

    def any(self):
        return self.n - self.pos

    def readinto(self, buf):
        n = self.n - self.pos
        if n > len(buf):
            n = len(buf)
        for i in range(n):
            buf[i] = self.buf[self.pos + i]
        self.pos += n
        return n
