# Local authorization list (SendLocalList) and authorization cache (runs in MicroPython).
import gc
import json

import auth
import fsutil
from auth import AuthCache, LocalList
from journal_files import fresh, write

OK = {"status": "Accepted"}
T2030 = 1893456000  # 2030-01-01T00:00:00Z


class Log:
    def __init__(self):
        self.lines = []

    def log(self, level, msg):
        self.lines.append((level, msg))


def _fresh(name):
    fresh(name, name + ".tmp", name + ".corrupt")
    return name


def _entry(tag, status="Accepted", **extra):
    info = {"status": status}
    for k in extra:
        info[k] = extra[k]
    return {"idTag": tag, "idTagInfo": info}


def test_empty_list_has_version_zero_and_knows_no_tag():
    ll = LocalList(_fresh("e.json"), log=Log())
    assert ll.version == 0 and ll.lookup("CARD1") is None


def test_full_update_replaces_the_list_and_survives_reboot():
    ll = LocalList(_fresh("f.json"), log=Log())
    assert ll.update(3, [_entry("CARD1"), _entry("CARD2", "Blocked")], True) == "Accepted"
    assert ll.update(4, [_entry("CARD3")], True) == "Accepted"
    ll2 = LocalList("f.json", log=Log())
    assert ll2.version == 4
    assert ll2.lookup("CARD3") == OK
    assert ll2.lookup("CARD1") is None
    with open("f.json") as f:
        doc = json.load(f)  # the file is plain JSON
    assert doc["version"] == 4


def test_differential_update_adds_changes_and_deletes_entries():
    ll = LocalList(_fresh("d.json"), log=Log())
    ll.update(1, [_entry("A"), _entry("B"), _entry("C")], True)
    res = ll.update(2, [{"idTag": "B"}, _entry("C", "Blocked"), _entry("D")], False)
    assert res == "Accepted"
    assert ll.version == 2 and ll.count == 3
    ll2 = LocalList("d.json", log=Log())
    assert ll2.lookup("A") == OK
    assert ll2.lookup("B") is None
    assert ll2.lookup("C")["status"] == "Blocked"
    assert ll2.lookup("D") == OK


def test_differential_update_with_old_version_is_a_version_mismatch():
    ll = LocalList(_fresh("v.json"), log=Log())
    ll.update(5, [_entry("A")], True)
    assert ll.update(5, [_entry("B")], False) == "VersionMismatch"
    assert ll.update(4, [_entry("B")], False) == "VersionMismatch"
    assert ll.lookup("B") is None and ll.version == 5
    assert ll.update(2, [_entry("B")], True) == "Accepted"  # a full update may go back


def test_list_longer_than_its_maximum_fails_and_keeps_the_old_list():
    ll = LocalList(_fresh("m.json"), max_len=3, send_max=3, log=Log())
    assert ll.update(1, [_entry("A"), _entry("B"), _entry("C")], True) == "Accepted"
    assert ll.update(2, [_entry("D")], False) == "Failed"
    assert ll.update(2, [_entry("A"), _entry("B"), _entry("C"), _entry("D")], True) == "Failed"
    assert ll.version == 1 and ll.lookup("D") is None and ll.lookup("C") == OK
    assert not fsutil.exists("m.json.tmp")
    assert ll.update(2, [{"idTag": "A"}, _entry("D")], False) == "Accepted"  # delete makes room
    assert ll.lookup("D") == OK and ll.count == 3


def test_malformed_entries_fail_the_update():
    ll = LocalList(_fresh("x.json"), log=Log())
    ll.update(1, [_entry("A")], True)
    for bad in ([{"idTag": "B"}], [_entry("C", "Maybe")], [{"idTagInfo": OK}],
                [_entry("X" * 21)], ["A"]):
        assert ll.update(2, bad, True) == "Failed", bad
    assert ll.update(-1, [], True) == "Failed"
    assert ll.version == 1 and ll.lookup("A") == OK


def test_full_update_with_empty_list_clears_it():
    ll = LocalList(_fresh("c.json"), log=Log())
    ll.update(1, [_entry("A")], True)
    assert ll.update(2, [], True) == "Accepted"
    assert ll.lookup("A") is None and ll.version == 0


def test_interrupted_list_update_leaves_the_old_list():
    ll = LocalList(_fresh("t.json"), log=Log())
    ll.update(1, [_entry("A")], True)
    write("t.json.tmp", b'{"version": 2, "list": [\n["B",{"status":"Accepted"}],\n')
    log = Log()
    ll2 = LocalList("t.json", log=log)
    assert ll2.version == 1 and ll2.lookup("A") == OK and not fsutil.exists("t.json.tmp")
    assert not log.lines


def test_half_written_first_list_without_old_file_is_dropped_quietly():
    write(_fresh("t2.json") + ".tmp", b'{"version": 2, "list": [\n["B",{"status":"Accepted"}],\n')
    log = Log()
    ll = LocalList("t2.json", log=log)
    assert ll.version == 0 and ll.lookup("B") is None and not log.lines
    assert not fsutil.exists("t2.json.tmp")


def test_complete_list_without_old_file_after_fat_rename_cut_is_used():
    write(_fresh("t3.json") + ".tmp", b'{"version": 2, "list": [\n["B",{"status":"Accepted"}],\nnull]}\n')
    ll = LocalList("t3.json", log=Log())
    assert ll.version == 2 and ll.lookup("b") == OK


def test_lookup_is_case_insensitive():
    ll = LocalList(_fresh("i.json"), log=Log())
    ll.update(1, [_entry("abCD12")], True)
    assert ll.lookup("ABcd12") == OK


def test_expired_local_list_entry_reads_as_expired():
    ll = LocalList(_fresh("x2.json"), log=Log())
    ll.update(1, [_entry("OLD", expiryDate="2030-01-01T00:00:00Z"),
                  _entry("NEW", expiryDate="2030-01-01T08:00:00+08:00", parentIdTag="FLEET")], True)
    assert ll.lookup("OLD", T2030 - 1)["status"] == "Accepted"
    assert ll.lookup("OLD", T2030)["status"] == "Expired"
    assert ll.lookup("NEW", T2030)["status"] == "Expired"
    assert ll.lookup("NEW", T2030 - 1)["parentIdTag"] == "FLEET"
    assert ll.lookup("OLD")["status"] == "Accepted"  # no clock, no verdict


def test_corrupt_local_list_is_kept_aside_and_logged():
    write(_fresh("k.json"), b"garbage\n")
    log = Log()
    ll = LocalList("k.json", log=log)
    assert ll.version == 0 and ll.lookup("A") is None
    assert fsutil.exists("k.json.corrupt") and log.lines[0][0] == "ERROR"
    assert ll.update(1, [_entry("A")], True) == "Accepted"


def test_big_local_list_is_not_held_in_ram():
    ll = LocalList(_fresh("b.json"), max_len=100, send_max=100, log=Log())
    ll.update(1, [_entry("TAG%03d" % i, expiryDate="2030-01-01T00:00:00Z") for i in range(100)], True)
    ll = None
    gc.collect()
    base = gc.mem_alloc()
    ll = LocalList("b.json", max_len=100, log=Log())
    gc.collect()
    assert gc.mem_alloc() - base < 600
    assert ll.count == 100 and ll.lookup("tag099", T2030 - 5)["status"] == "Accepted"


def test_iso_dates_convert_to_unix_seconds():
    assert auth.iso_to_epoch("1970-01-01T00:00:00Z") == 0
    assert auth.iso_to_epoch("2030-01-01T00:00:00Z") == T2030
    assert auth.iso_to_epoch("2024-02-29T12:00:00.123Z") == 1709208000
    assert auth.iso_to_epoch("2024-03-01T00:00:00-05:00") == 1709269200
    assert auth.iso_to_epoch("not a date") is None
    assert auth.iso_to_epoch("2024-13-01T00:00:00Z") is None


def test_cache_remembers_answers_across_reboot():
    c = AuthCache(_fresh("ac.json"), 5, Log())
    c.put("CARD1", {"status": "Accepted"})
    c.put("CARD2", {"status": "Blocked"})
    c2 = AuthCache("ac.json", 5, Log())
    assert c2.lookup("card1") == OK
    assert c2.lookup("CARD2")["status"] == "Blocked"
    assert c2.lookup("CARD3") is None


def test_cache_evicts_the_least_recently_used_entry():
    c = AuthCache(_fresh("lru.json"), 3, Log())
    c.put("A", OK)
    c.put("B", OK)
    c.put("C", OK)
    assert c.lookup("A") == OK  # A is now the most recently used
    c.put("D", OK)
    assert c.lookup("B") is None
    assert c.lookup("A") == OK and c.lookup("C") == OK and c.lookup("D") == OK
    c.put("C", {"status": "Blocked"})  # an update refreshes
    c.put("E", OK)
    assert len(c) == 3 and c.lookup("A") is None and c.lookup("C")["status"] == "Blocked"
    c2 = AuthCache("lru.json", 3, Log())
    assert c2.lookup("D") == OK and c2.lookup("E") == OK and c2.lookup("A") is None


def test_smaller_cache_size_after_reboot_keeps_the_most_recent_entries():
    c = AuthCache(_fresh("sz.json"), 4, Log())
    for t in ("A", "B", "C", "D"):
        c.put(t, OK)
    c2 = AuthCache("sz.json", 2, Log())
    assert len(c2) == 2 and c2.lookup("D") == OK and c2.lookup("C") == OK


def test_expired_cache_entry_reads_as_expired():
    c = AuthCache(_fresh("ex.json"), 5, Log())
    c.put("A", {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"})
    assert c.lookup("A", T2030 - 10)["status"] == "Accepted"
    assert c.lookup("A", T2030 + 10)["status"] == "Expired"
    assert c.lookup("A", T2030 - 10)["status"] == "Accepted"  # the entry itself is not rewritten


def test_clear_cache_forgets_everything_durably():
    c = AuthCache(_fresh("cl.json"), 5, Log())
    c.put("A", OK)
    assert c.clear() is True
    assert c.lookup("A") is None
    assert AuthCache("cl.json", 5, Log()).lookup("A") is None


def test_cache_ignores_malformed_answers():
    c = AuthCache(_fresh("bad.json"), 5, Log())
    c.put("A", None)
    c.put("B", {"status": "Whatever"})
    c.put("", OK)
    assert len(c) == 0


def test_corrupt_cache_file_starts_empty_and_is_logged():
    write(_fresh("cc.json"), b"{not json")
    log = Log()
    c = AuthCache("cc.json", 5, log)
    assert len(c) == 0 and log.lines and log.lines[0][0] == "ERROR"
    c.put("A", OK)
    assert AuthCache("cc.json", 5, Log()).lookup("A") == OK
