# The journal's test hook (station.json "test_crash", docs/interfaces.md §1.1), loaded by
# journal.Journal only when one is set: {"journal_write": N, "bytes": K, "kinds": "STM-"?,
# "raise": bool?}. On the N-th record write (of the given kinds, counted since the hook was set)
# only the first K bytes of the record reach the file; then the process prints CRASHPOINT and
# hangs until the test kills it, or raises journal.CrashPoint when "raise" is set.
import fsutil
from journal import CrashPoint


def check(j, f, kind, n, data):
    # called by Journal.write before it writes record `kind` (a byte) with `n` bytes of `data` to `f`
    c = j.crash
    kinds = c.get("kinds")
    if kinds is not None and chr(kind) not in kinds:
        return
    seen = c.get("seen", 0) + 1  # the count lives in the hook itself
    c["seen"] = seen
    if seen != c.get("journal_write", 0):
        return
    rec = bytes(j.head) + (data if n else b"") + bytes(j.digest)
    f.write(rec[: c.get("bytes", 0)])
    f.flush()
    f.close()
    fsutil.sync()
    if c.get("raise"):
        raise CrashPoint()
    import time

    print("CRASHPOINT")
    while True:
        time.sleep(1)
