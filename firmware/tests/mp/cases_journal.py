# Journal cases executed inside MicroPython for test_journal_hypothesis.py (CPython keeps the model).
#
# run(capacity, ops) plays a list of operations on a fresh journal and returns, per operation,
# [result, live count, room(), digest] so that CPython can compare every step with its model;
# digest is the CRC-32 of every live record as b"<seq> <kind> " + UTF-8 data + b"\n" (the records
# themselves, step after step, would not fit the 100 kB heap of the worker).
# Operations (lists, JSON from CPython):
#   ["a", kind, data, droppable]        append -> seq | "FULL"
#   ["r", pick]                         remove the pick-th live record (mod count; -1 = seq 1)
#                                       -> [seq, removed?]
#   ["c"]                               compact -> None
#   ["o"]                               reboot (new Journal, open) -> dropped bytes
#   ["ta", kind, data, droppable, k]    power cut after k % (record size + 1) bytes of this append,
#                                       reboot -> ["TORN", last live seq] | "FULL"
#   ["tr", pick, k]                     power cut after k % 15 bytes of the removal ack, reboot
#                                       -> [seq, "TORN" | removed?]
#   ["g", n]                            n bytes of erased flash (0xFF) after the end, reboot
#                                       -> dropped bytes
#   ["rf"]                              power cut between compaction's tmp and rename, reboot
#                                       -> tmp left behind?
import fsutil
import journal
from journal_files import add, fresh, size

PATH = "hyp.bin"
TMP = "hyp.tmp"


def _snapshot(j):
    crc = 0
    for seq, kind, data in j.records():
        crc = journal.crc32(("%d %s " % (seq, kind)).encode(), crc)
        crc = journal.crc32(data.encode() + b"\n", crc)
    return [j.count(), j.room(), crc]


def _reboot(cap):
    j = journal.Journal(PATH, cap)
    j.open()
    return j


def _pick(j, pick):
    if pick < 0 or j.count() == 0:
        return 1
    want = pick % j.count()
    for i, r in enumerate(j.records()):
        if i == want:
            return r[0]
    return 1


def _arm(j, k):
    j.crash = {"journal_write": 1, "bytes": k, "raise": True}
    j._crash_seen = 0


def _fail(src, dst):
    raise OSError(5)


def run(cap, ops):
    fresh(PATH, TMP)
    j = journal.Journal(PATH, cap)
    j.open()
    out = []
    for op in ops:
        code = op[0]
        res = None
        if code == "a":
            try:
                res = j.append(op[1], op[2], op[3])
            except journal.JournalFull:
                res = "FULL"
        elif code == "r":
            seq = _pick(j, op[1])
            res = [seq, j.remove(seq)]
        elif code == "c":
            j.compact()
        elif code == "o":
            j = _reboot(cap)
            res = j.dropped
        elif code == "ta":
            _arm(j, op[4] % (j.record_size(op[2]) + 1))
            try:
                j.append(op[1], op[2], op[3])
                res = "NOCRASH"
            except journal.JournalFull:
                res = "FULL"
            except journal.CrashPoint:
                res = "TORN"
            j = _reboot(cap)
            if res == "TORN":
                last = None
                for r in j.records():
                    last = r[0]
                res = ["TORN", last]
        elif code == "tr":
            seq = _pick(j, op[1])
            _arm(j, op[2] % (j.record_size("") + 1))
            try:
                res = [seq, j.remove(seq)]
            except journal.CrashPoint:
                res = [seq, "TORN"]
            j = _reboot(cap)
        elif code == "g":
            add(PATH, b"\xff" * op[1])
            j = _reboot(cap)
            res = j.dropped
        elif code == "rf":
            real = fsutil.rename
            fsutil.rename = _fail
            try:
                j.compact()
            except OSError:
                pass
            finally:
                fsutil.rename = real
            res = fsutil.exists(TMP)
            j = _reboot(cap)
        else:
            raise ValueError(code)
        snap = _snapshot(j)
        if size(PATH) != j.size():
            raise AssertionError("file %d bytes, journal thinks %d" % (size(PATH), j.size()))
        out.append([res] + snap)
    return out


def reread(cap):
    # two reboots in a row: the second must find nothing to repair and the same records
    a = _reboot(cap)
    first = [list(r) for r in a.records()]
    b = _reboot(cap)
    second = [list(r) for r in b.records()]
    return [a.dropped, b.dropped, first == second, first, fsutil.exists(TMP), b.next_seq()]
