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
        self._hb = bytearray(_HDR)  # header of the record being written or read
        self._tb = bytearray(4)  # its CRC
        self._buf = memoryview(bytearray(128))  # copy / checksum scratch
        # live records, oldest first, in slots [0, _n); arrays only grow, slots are reused
        self._seqs = array("I")
        self._offs = array("I")
        self._lens = array("H")
        self._meta = bytearray()  # kind | _MDROP
        self._n = 0
        self._live = 0  # bytes of live records
        self._keep = 0  # bytes of live records that are not droppable
        self._next = 1  # seq the next append gets
        self._size = 0  # bytes in the file, all of them valid records
        self._opened = False  # False also after a failed write: the next call re-scans
        self.writes = 0  # records written since boot (appends and removal acks)
        self.dropped = 0  # bytes dropped from a torn or corrupt tail by the last open()
        self.evicted = 0  # droppable records evicted since boot
        self.compactions = 0
        # test hook {"journal_write": N, "bytes": K, "kinds": "STM-"?, "raise": bool?}: see
        # journal_crash.py, loaded only when one is set
        self._crash = crash

    # ---- public API -------------------------------------------------------------------------

    def open(self):
        # recover: drop a torn tail; returns the live record count
        return self._fix("recover")

    def append(self, kind, data, droppable=False):
        if not self._opened:
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
        if self._size + need > self.capacity:
            self._fix("make_room", need)
        seq = self._next
        off = self._size
        self._write(k, _DROP if droppable else 0, n, seq, data)
        self._next = seq + 1
        self._push(seq, off, n, k | (_MDROP if droppable else 0))
        return seq

    def remove(self, seq):
        # durable once it returns; False when seq is not live (already removed or evicted)
        if not self._opened:
            self.open()
        i = self._find(seq)
        if i < 0:
            return False
        if self._size + _OVH > self.capacity:
            self._fix("rewrite", 0, seq)  # no room for an ack: the rewrite itself removes it
        else:
            self._write(_K_ACK, 0, 0, seq, None)
            self._drop(i)
        return True

    def records(self):
        # live (seq, kind, data) oldest first; safe against appends/removals between steps
        if not self._opened:
            self.open()
        last = 0
        while True:
            i = self._after(last)
            if i >= self._n:
                return
            last = self._seqs[i]
            yield self._load(i)

    def first(self, kinds=None):
        if not self._opened:
            self.open()
        for i in range(self._n):
            if kinds is None or chr(self._meta[i] & _KIND) in kinds:
                return self._load(i)
        return None

    def get(self, seq):
        i = self._find(seq)
        return self._load(i) if i >= 0 else None

    def count(self, kinds=None):
        if kinds is None:
            return self._n
        c = 0
        for i in range(self._n):
            if chr(self._meta[i] & _KIND) in kinds:
                c += 1
        return c

    def room(self):
        return self.capacity - _OVH - self._keep

    def compact(self):
        if not self._opened:
            self.open()
        self._fix("rewrite", 0, 0)

    def record_size(self, data):
        return _OVH + len(data.encode() if isinstance(data, str) else data)

    def size(self):
        return self._size

    def next_seq(self):
        return self._next

    def _fix(self, fn, *args):
        # journal_fix.<fn>(self, *args): the scan and the rewrites run at boot and on compaction
        # only, so their code is loaded for the call (lazy.py)
        return lazy.call("journal_fix", fn, self, *args)

    # ---- index --------------------------------------------------------------------------------

    def _push(self, seq, off, n, meta):
        i = self._n
        if i < len(self._seqs):
            self._seqs[i] = seq
            self._offs[i] = off
            self._lens[i] = n
            self._meta[i] = meta
        else:
            self._seqs.append(seq)
            self._offs.append(off)
            self._lens.append(n)
            self._meta.append(meta)
        self._n = i + 1
        self._live += _OVH + n
        if not meta & _MDROP:
            self._keep += _OVH + n

    def _drop(self, i):
        n = _OVH + self._lens[i]
        self._live -= n
        if not self._meta[i] & _MDROP:
            self._keep -= n
        last = self._n - 1
        while i < last:
            self._seqs[i] = self._seqs[i + 1]
            self._offs[i] = self._offs[i + 1]
            self._lens[i] = self._lens[i + 1]
            self._meta[i] = self._meta[i + 1]
            i += 1
        self._n = last

    def _after(self, seq):
        # index of the first live record with a seq greater than `seq` (_n when none)
        lo = 0
        hi = self._n
        s = self._seqs
        while lo < hi:
            mid = (lo + hi) >> 1
            if s[mid] <= seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _find(self, seq):
        i = self._after(seq - 1)
        return i if i < self._n and self._seqs[i] == seq else -1

    # ---- file ---------------------------------------------------------------------------------

    def _load(self, i):
        f = open(self.path, "rb")
        try:
            f.seek(self._offs[i] + _HDR)
            data = f.read(self._lens[i])
        finally:
            f.close()
        return (self._seqs[i], chr(self._meta[i] & _KIND), data.decode())

    def _write(self, k, flags, n, seq, data):
        hb = self._hb
        tb = self._tb
        struct.pack_into(_FMT, hb, 0, _MAGIC, k, flags, n, seq)
        crc = crc32(hb)
        if n:
            crc = crc32(data, crc)
        struct.pack_into("<I", tb, 0, crc)
        self.writes += 1
        f = open(self.path, "ab")
        try:
            if self._crash is not None:  # the test hook (journal_crash.py)
                lazy.call("journal_crash", "check", self, f, k, n, data)
            f.write(hb)
            if n:
                f.write(data)
            f.write(tb)
            f.flush()
        except Exception:
            self._opened = False  # a partial record may be on flash: re-scan before next use
            raise
        finally:
            f.close()
        if hasattr(os, "sync"):  # as fsutil.sync: flush() committed the file, this the volume
            os.sync()
        self._size += _OVH + n
