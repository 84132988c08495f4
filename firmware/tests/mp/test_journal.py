# Journal on flash: durability, torn tails, compaction, eviction, capacity (runs in MicroPython).
import gc

import fsutil
import journal
import journal_fix
from journal import Journal, JournalFull
from journal_files import add, flip, fresh, read, size, truncate, write

STOP = '{"transactionId":7,"meterStop":12345,"timestamp":"2026-01-20T03:00:00Z","reason":"Local"}'
METER = '{"connectorId":1,"transactionId":7,"meterValue":[{"sampledValue":[{"value":"1234"}]}]}'


def _new(name, capacity=16384, crash=None):
    fresh(name, name[:-4] + ".tmp")
    j = Journal(name, capacity, crash)
    assert j.open() == 0
    return j


def _reboot(name, capacity=16384):
    j = Journal(name, capacity)
    j.open()
    return j


def _live(j):
    return [r for r in j.records()]


def test_appended_records_read_back_in_order_after_reboot():
    j = _new("a.bin")
    seqs = [j.append("S", '{"idTag":"CARD1"}'), j.append("M", METER, True), j.append("T", STOP)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    j2 = _reboot("a.bin")
    assert _live(j2) == [(seqs[0], "S", '{"idTag":"CARD1"}'), (seqs[1], "M", METER), (seqs[2], "T", STOP)]
    assert j2.dropped == 0


def test_non_ascii_data_round_trips():
    j = _new("u.bin")
    s = j.append("E", "Hëizung −40 °C ❄")
    assert _reboot("u.bin").get(s) == (s, "E", "Hëizung −40 °C ❄")
    assert j.record_size("❄") == j.record_size("abc")


def test_torn_last_record_at_every_byte_offset_is_dropped_and_earlier_records_survive():
    j = _new("t.bin")
    a = j.append("S", "start")
    b = j.append("M", METER, True)
    before = j.size()
    j.append("T", STOP)
    whole = read("t.bin")
    assert len(whole) == before + j.record_size(STOP)
    for k in range(before, len(whole)):
        write("t.bin", whole[:k])
        r = Journal("t.bin", 16384)
        assert r.open() == 2, k
        assert r.dropped == k - before
        assert [x[0] for x in r.records()] == [a, b]
        assert size("t.bin") == before  # the torn bytes are gone from flash
        c = r.append("T", STOP)  # appends after the cut are readable
        assert c > b
        again = _reboot("t.bin")
        assert again.dropped == 0 and [x[0] for x in again.records()] == [a, b, c]


def test_crash_hook_tears_the_nth_write_at_every_length():
    j = _new("h.bin")
    j.append("S", "start")
    full = j.record_size(STOP)
    for k in range(full):
        j = _reboot("h.bin")
        keep = [x[0] for x in j.records()]
        j.crash = {"journal_write": 1, "bytes": k, "raise": True}
        try:
            j.append("T", STOP)
            raise AssertionError("no crash")
        except journal.CrashPoint:
            pass
        r = _reboot("h.bin")
        assert [x[0] for x in r.records()] == keep
        assert r.dropped == k


def test_crash_hook_counts_only_the_kinds_asked_for():
    j = _new("hk.bin", crash={"journal_write": 2, "bytes": 5, "raise": True, "kinds": "T"})
    j.append("S", "a")
    j.append("T", "b")
    j.append("M", "c", True)
    try:
        j.append("T", "d")
        raise AssertionError("no crash")
    except journal.CrashPoint:
        pass
    assert [x[2] for x in _reboot("hk.bin").records()] == ["a", "b", "c"]


def test_failed_write_is_recovered_before_the_next_append():
    j = _new("w.bin")
    j.append("S", "one")
    j.crash = {"journal_write": 1, "bytes": 9, "raise": True}
    try:
        j.append("S", "two")
        raise AssertionError("no crash")
    except journal.CrashPoint:
        pass
    j.crash = None
    s = j.append("S", "three")  # same object, no reboot: it must not write after the torn bytes
    assert [x[2] for x in j.records()] == ["one", "three"]
    r = _reboot("w.bin")
    assert r.dropped == 0 and [x[2] for x in r.records()] == ["one", "three"] and r.get(s)


def test_bad_crc_in_the_middle_drops_that_record_and_everything_after():
    j = _new("c.bin")
    a = j.append("S", "first")
    off = j.size()
    j.append("M", METER, True)
    j.append("T", STOP)
    flip("c.bin", off + 12)  # a data byte of the second record
    r = _reboot("c.bin")
    assert [x[0] for x in r.records()] == [a]
    assert r.dropped > 0
    assert _reboot("c.bin").dropped == 0


def test_corrupt_length_field_does_not_read_past_the_file():
    j = _new("l.bin")
    a = j.append("S", "first")
    off = j.size()
    j.append("T", STOP)
    flip("l.bin", off + 5)  # high byte of the length
    r = _reboot("l.bin")
    assert [x[0] for x in r.records()] == [a]


def test_erased_flash_after_the_last_record_is_dropped():
    j = _new("e.bin")
    j.append("S", "x")
    j.append("T", "y")
    add("e.bin", b"\xff" * 300)
    r = _reboot("e.bin")
    assert r.dropped == 300 and [x[2] for x in r.records()] == ["x", "y"]


def test_file_with_a_damaged_header_starts_empty_and_works():
    j = _new("d.bin")
    j.append("S", "x")
    flip("d.bin", 0)
    r = _reboot("d.bin")
    assert r.count() == 0
    s = r.append("S", "again")
    assert [x[0] for x in _reboot("d.bin").records()] == [s]


def test_removed_record_stays_removed_after_reboot():
    j = _new("r.bin")
    a = j.append("S", "a")
    b = j.append("T", "b")
    assert j.remove(a) is True
    assert j.remove(a) is False
    assert j.remove(999) is False
    assert [x[0] for x in _reboot("r.bin").records()] == [b]


def test_torn_removal_ack_brings_the_record_back():
    j = _new("ra.bin")
    a = j.append("S", "a")
    before = j.size()
    j.remove(a)
    for k in range(before, j.size()):
        truncate("ra.bin", k)
        r = _reboot("ra.bin")
        assert [x[0] for x in r.records()] == [a]
        r.remove(a)
        assert j.size() == r.size()


def test_compaction_keeps_live_records_and_shrinks_the_file():
    j = _new("k.bin")
    keep = []
    for i in range(20):
        s = j.append("M" if i % 2 else "S", "rec%d" % i, i % 2 == 1)
        if i % 3:
            j.remove(s)
        else:
            keep.append(s)
    grown = j.size()
    j.compact()
    assert j.size() < grown and size("k.bin") == j.size()
    assert [x[0] for x in j.records()] == keep
    r = _reboot("k.bin")
    assert [x[0] for x in r.records()] == keep and r.dropped == 0
    assert not fsutil.exists("k.tmp")


def _failing_rename(src, dst):
    raise OSError(5)


def test_power_cut_between_tmp_and_rename_keeps_the_old_journal():
    j = _new("p.bin")
    a = j.append("S", "a")
    b = j.append("T", "b")
    j.remove(a)
    old = read("p.bin")
    real = fsutil.rename
    fsutil.rename = _failing_rename
    try:
        j.compact()
        raise AssertionError("rename did not fail")
    except OSError:
        pass
    finally:
        fsutil.rename = real
    assert fsutil.exists("p.tmp") and read("p.bin") == old  # both files present
    r = _reboot("p.bin")
    assert [x[0] for x in r.records()] == [b]
    assert not fsutil.exists("p.tmp")
    assert read("p.bin") == old


def test_half_written_tmp_from_a_cut_compaction_is_discarded():
    j = _new("q.bin")
    j.append("S", "a")
    write("q.tmp", b"\xf7\xa5#\x00\x00")
    r = _reboot("q.bin")
    assert [x[2] for x in r.records()] == ["a"] and not fsutil.exists("q.tmp")


def test_complete_tmp_without_journal_after_fat_rename_cut_is_used():
    j = _new("f.bin")
    a = j.append("S", "a")
    j.compact()
    write("f.tmp", read("f.bin"))
    fresh("f.bin")
    r = _reboot("f.bin")
    assert [x[0] for x in r.records()] == [a]
    assert fsutil.exists("f.bin") and not fsutil.exists("f.tmp")


def test_full_journal_evicts_oldest_meter_readings_first():
    cap = 600
    j = _new("v.bin", cap)
    start = j.append("S", "start")
    meters = []
    while j.size() + j.record_size(METER) <= cap:
        meters.append(j.append("M", METER, True))
    stop = j.append("T", STOP)  # no room left: the oldest readings make room
    live = [x[0] for x in j.records()]
    assert start in live and stop in live
    kept = [m for m in meters if m in live]
    gone = [m for m in meters if m not in live]
    assert gone and kept and max(gone) < min(kept)
    assert j.evicted == len(gone)
    assert [x[0] for x in _reboot("v.bin", cap).records()] == live


def test_new_reading_replaces_the_oldest_reading_when_full():
    cap = 400
    j = _new("n.bin", cap)
    meters = []
    for _ in range(12):
        meters.append(j.append("M", METER, True))
    live = [x[0] for x in j.records()]
    assert live == meters[-len(live):] and meters[-1] in live


def test_journal_full_only_when_transaction_records_fill_it_and_nothing_is_evicted():
    cap = 500
    j = _new("x.bin", cap)
    m = j.append("M", METER, True)
    txs = []
    try:
        while True:
            txs.append(j.append("T", STOP))
    except JournalFull:
        pass
    live = [x[0] for x in j.records()]
    assert live == txs  # the reading went before any transaction record was refused
    try:
        j.append("M", METER, True)
        raise AssertionError("reading accepted in a journal full of transaction records")
    except JournalFull:
        pass
    assert [x[0] for x in j.records()] == txs and m not in live
    assert j.room() < j.record_size(STOP)
    j.remove(txs[0])
    assert j.room() >= j.record_size(STOP)
    j.append("T", STOP)


def test_room_ignores_readings_that_could_be_evicted():
    cap = 700
    j = _new("rm.bin", cap)
    room0 = j.room()
    assert room0 == cap - j.record_size("")
    j.append("S", "start")
    assert j.room() == room0 - j.record_size("start")
    for _ in range(5):
        j.append("M", METER, True)
    assert j.room() == room0 - j.record_size("start")
    # a transaction record that fits in room() is always accepted, evicting readings if needed
    while j.room() >= j.record_size(STOP):
        j.append("T", STOP)
    assert j.count("M") < 5
    try:
        j.append("T", STOP)
        raise AssertionError("accepted beyond room()")
    except JournalFull:
        pass


def test_removal_with_no_room_for_its_ack_is_still_durable():
    cap = 300
    j = _new("na.bin", cap)
    seqs = []
    while True:
        try:
            seqs.append(j.append("T", STOP))
        except JournalFull:
            break
    # fill the last bytes so that no ack fits
    while j.size() + j.record_size("") <= cap:
        try:
            seqs.append(j.append("B", ""))
        except JournalFull:
            break
    assert j.size() + j.record_size("") > cap
    assert j.remove(seqs[0])
    assert [x[0] for x in _reboot("na.bin", cap).records()] == seqs[1:]


def test_seq_keeps_rising_across_reboots_even_when_everything_was_removed():
    j = _new("s.bin")
    last = 0
    for _ in range(3):
        s = j.append("S", "x")
        assert s > last
        last = s
        j.remove(s)
        j.compact()
        j = _reboot("s.bin")
        assert j.count() == 0
    assert j.append("S", "y") > last


def test_first_finds_the_oldest_record_of_the_given_kinds():
    j = _new("fi.bin")
    assert j.first() is None
    a = j.append("M", "m1", True)
    b = j.append("S", "s1")
    j.append("T", "t1")
    assert j.first()[0] == a
    assert j.first("ST")[0] == b
    assert j.first(("T",))[2] == "t1"
    assert j.first("E") is None
    assert j.count("ST") == 2


def test_records_iteration_tolerates_removal_while_replaying():
    j = _new("it.bin")
    seqs = [j.append("S", str(i)) for i in range(6)]
    seen = []
    for seq, kind, data in j.records():
        seen.append(seq)
        j.remove(seq)
        if seq == seqs[2]:
            j.compact()
    assert seen == seqs and j.count() == 0


def test_kind_must_be_one_printable_character_and_not_reserved():
    j = _new("kd.bin")
    for bad in ("", "ST", " ", "#", "-", "\n"):
        try:
            j.append(bad, "x")
            raise AssertionError("accepted kind %r" % bad)
        except ValueError:
            pass


def test_record_larger_than_the_journal_is_refused():
    j = _new("big.bin", 200)
    try:
        j.append("T", "x" * 200)
        raise AssertionError("accepted")
    except JournalFull:
        pass
    assert j.count() == 0


def test_soft_crc32_matches_the_standard_check_value():
    assert journal_fix.crc32_soft(b"123456789") == 0xCBF43926
    assert journal.crc32(b"123456789") == 0xCBF43926
    data = bytes(range(256)) * 3
    assert journal_fix.crc32_soft(data) == journal.crc32(data)
    assert journal_fix.crc32_soft(data[100:], journal_fix.crc32_soft(data[:100])) == journal.crc32(data)


def test_journal_with_100_live_records_uses_little_heap():
    _new("mem.bin")
    j = Journal("mem.bin", 16384)
    j.open()
    for i in range(100):
        j.append("M" if i % 2 else "S", METER, i % 2 == 1)
    j = None
    gc.collect()
    base = gc.mem_alloc()
    j = Journal("mem.bin", 16384)
    assert j.open() == 100
    gc.collect()
    used = gc.mem_alloc() - base
    assert used < 2500, used
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        s = j.remove(j.append("T", STOP))
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    assert s and a1 - a0 < 1024, a1 - a0
