# Append-only record journal on flash: what the backend must receive survives power cuts.
#
# The file is records laid end to end, all little-endian, 14 bytes of overhead each:
#   0  u16  magic 0xA5F7 (bytes F7 A5: never valid UTF-8 text)
#   2  u8   kind   '#' file header, '-' removal ack, else the caller's kind (printable ASCII)
#   3  u8   flags  bit 0: droppable (may be evicted when space runs short)
#   4  u16  n      length of data in bytes (UTF-8 text)
#   6  u32  seq    data record: its own seq; '-': the seq it removes; '#': next seq to hand out
#  10  n    data
# 10+n u32  CRC-32 (IEEE) of bytes 0 .. 10+n
# A valid file starts with one '#' record, so seq stays monotonic when compaction leaves no
# data record behind. Records are written sequentially and committed with flush(), so after a
# power cut only the last record can be torn: open() keeps the records before the first bad one
# (a bad record means nothing after it can be trusted) and rewrites the file without the rest.
# Rewrites (compaction, recovery, eviction) go to `journal.tmp` and rename over the journal:
# a cut leaves the old file whole (tmp dropped at boot) or the new one. The scan at open() and
# the rewrites live in journal_fix.py, loaded only while they run.
import os
import struct
from array import array
from micropython import const

import lazy

try:
    from binascii import crc32
except ImportError:  # ports built without binascii.crc32: journal_fix.crc32_soft, loaded per use

    def crc32(buf, crc=0):
        return lazy.call("journal_fix", "crc32_soft", buf, crc)

_MAGIC = const(0xA5F7)
_HDR = const(10)
_OVH = const(14)  # header + CRC: the size of a record with empty data
_K_HEAD = const(35)  # '#'
_K_ACK = const(45)  # '-'
_DROP = const(1)
_KIND = const(0x7F)  # _meta bits: kind; bit 7 = droppable
_MDROP = const(0x80)
_MAXLEN = const(0xFFFF)
_FMT = const("<HBBHI")

class JournalFull(Exception):
    pass


class CrashPoint(Exception):
    # raised by the crash hook in test mode ("raise": True) instead of hanging
    pass


class Journal:
    def __init__(self, path, capacity_bytes, crash=None):
        self.path = path
        # journal.bin -> journal.tmp (the name docs/interfaces.md gives); others get .tmp appended
        self.tmp = (path[:-4] if path.endswith(".bin") else path) + ".tmp"
        self.capacity = capacity_bytes
        self.head = bytearray(_HDR)  # header of the record being written or read
        self.digest = bytearray(4)  # its CRC
        self.buf = memoryview(bytearray(128))  # copy / checksum scratch
        # live records, oldest first, in slots [0, n); arrays only grow, slots are reused. (Names
        # that MicroPython already holds, as most here: a new name is a qstr interned for good.)
        self.keys = array("I")  # seq of each record
        self.pos = array("I")  # file offset of each record
        self.length = array("H")  # bytes of data of each record
        self.flags = bytearray()  # kind | _MDROP of each record
        self.n = 0
        self._live = 0  # bytes of live records
        self._keep = 0  # bytes of live records that are not droppable
        self.next = 1  # seq the next append gets
        self.end = 0  # bytes in the file, all of them valid records
        self.state = False  # True once open() scanned the file; False also after a failed write: the
        # next call re-scans
        self.dropped = 0  # bytes dropped from a torn or corrupt tail by the last open()
        self.evicted = 0  # droppable records evicted since boot
        # test hook {"journal_write": N, "bytes": K, "kinds": "STM-"?, "raise": bool?}: see
        # journal_crash.py, loaded only when one is set
        self.crash = crash

    # ---- public API -------------------------------------------------------------------------

    def open(self):
        # recover: drop a torn tail; returns the live record count
        return lazy.call("journal_fix", "recover", self)

    def append(self, kind, data, droppable=False):
        if not self.state:
            self.open()
        k = ord(kind) if len(kind) == 1 else 0
        if k < 0x21 or k > 0x7E or k == _K_HEAD or k == _K_ACK:
            raise ValueError("kind")
        if isinstance(data, str):
            data = data.encode()
        n = len(data)
        if n > _MAXLEN:
            raise ValueError("record too long")
        need = _OVH + n
        if self.end + need > self.capacity:
            lazy.call("journal_fix", "make_room", self, need)
        seq = self.next
        off = self.end
        self.write(k, _DROP if droppable else 0, n, seq, data)
        self.next = seq + 1
        self.put(seq, off, n, k | (_MDROP if droppable else 0))
        return seq

    def remove(self, seq):
        # durable once it returns; False when seq is not live (already removed or evicted)
        if not self.state:
            self.open()
        i = self.index(seq)
        if i < 0:
            return False
        if self.end + _OVH > self.capacity:
            # no room for an ack: the rewrite itself removes it (journal_fix.py, loaded for it)
            lazy.call("journal_fix", "rewrite", self, 0, seq)
        else:
            self.write(_K_ACK, 0, 0, seq, None)
            self.pop(i)
        return True

    def records(self):
        # live (seq, kind, data) oldest first; safe against appends/removals between steps
        if not self.state:
            self.open()
        last = 0
        while True:
            i = self._after(last)
            if i >= self.n:
                return
            last = self.keys[i]
            yield self.load(i)

    def first(self, kinds=None):
        if not self.state:
            self.open()
        for i in range(self.n):
            if kinds is None or chr(self.flags[i] & _KIND) in kinds:
                return self.load(i)
        return None

    def get(self, seq):
        i = self.index(seq)
        return self.load(i) if i >= 0 else None

    def count(self, kinds=None):
        if kinds is None:
            return self.n
        c = 0
        for i in range(self.n):
            if chr(self.flags[i] & _KIND) in kinds:
                c += 1
        return c

    def room(self):
        return self.capacity - _OVH - self._keep

    def compact(self):
        if not self.state:
            self.open()
        lazy.call("journal_fix", "rewrite", self, 0, 0)

    def record_size(self, data):
        return _OVH + len(data.encode() if isinstance(data, str) else data)

    def size(self):
        return self.end

    def next_seq(self):
        return self.next

    # ---- index --------------------------------------------------------------------------------

    def put(self, seq, off, n, flags):
        i = self.n
        if i < len(self.keys):
            self.keys[i] = seq
            self.pos[i] = off
            self.length[i] = n
            self.flags[i] = flags
        else:
            self.keys.append(seq)
            self.pos.append(off)
            self.length.append(n)
            self.flags.append(flags)
        self.n = i + 1
        self._live += _OVH + n
        if not flags & _MDROP:
            self._keep += _OVH + n

    def pop(self, i):
        n = _OVH + self.length[i]
        self._live -= n
        if not self.flags[i] & _MDROP:
            self._keep -= n
        last = self.n - 1
        while i < last:
            self.keys[i] = self.keys[i + 1]
            self.pos[i] = self.pos[i + 1]
            self.length[i] = self.length[i + 1]
            self.flags[i] = self.flags[i + 1]
            i += 1
        self.n = last

    def _after(self, seq):
        # index of the first live record with a seq greater than `seq` (n when none)
        lo = 0
        hi = self.n
        s = self.keys
        while lo < hi:
            mid = (lo + hi) >> 1
            if s[mid] <= seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def index(self, seq):
        i = self._after(seq - 1)
        return i if i < self.n and self.keys[i] == seq else -1

    # ---- file ---------------------------------------------------------------------------------

    def load(self, i):
        f = open(self.path, "rb")
        try:
            f.seek(self.pos[i] + _HDR)
            data = f.read(self.length[i])
        finally:
            f.close()
        return (self.keys[i], chr(self.flags[i] & _KIND), data.decode())

    def write(self, kind, flags, n, seq, data):
        # one record, `kind` as a byte
        hb = self.head
        tb = self.digest
        struct.pack_into(_FMT, hb, 0, _MAGIC, kind, flags, n, seq)
        crc = crc32(hb)
        if n:
            crc = crc32(data, crc)
        struct.pack_into("<I", tb, 0, crc)
        f = open(self.path, "ab")
        try:
            if self.crash is not None:  # the test hook (journal_crash.py)
                lazy.call("journal_crash", "check", self, f, kind, n, data)
            f.write(hb)
            if n:
                f.write(data)
            f.write(tb)
            f.flush()
        except Exception:
            self.state = False  # a partial record may be on flash: re-scan before next use
            raise
        finally:
            f.close()
        if hasattr(os, "sync"):  # as fsutil.sync: flush() committed the file, this the volume
            os.sync()
        self.end += _OVH + n
