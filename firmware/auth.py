# Offline authorization: the backend's local list (SendLocalList) and the authorization cache.
#
# idTags are case-insensitive in OCPP (CiString20): both stores key them upper-cased.
# Expiry dates are honoured when the caller passes the wall clock `now_s` (Unix seconds): an
# Accepted entry past its expiryDate reads back with status "Expired".
#
# auth.json holds the local list as valid JSON, one entry a line, so that a lookup streams the
# file line by line and the list (up to LocalAuthListMaxLength) never sits in RAM:
#   {"version": 3, "list": [
#   ["CARD1",{"status":"Accepted"}],
#   ["CARD2",{"status":"Blocked","expiryDate":"2030-01-01T00:00:00Z"}],
#   null]}
# Loading both at boot and SendLocalList (auth_list.py) are loaded only while they run (lazy.py).
# The cache is small (AuthorizationCacheMaxEntries) and lives in RAM, persisted to
# authcache.json as {"lru": [[tag, idTagInfo], ...]}, least recently used first.
import json

import lazy
from log import log as log_line  # the default for log=None

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
FOOT = "null]}\n"  # the last line of auth.json


def iso_to_epoch(s):
    # "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" -> Unix seconds, None when it does not parse
    return lazy.call("ocpp16_time", "parse_iso", s)


def effective(info, now_s):
    # the idTagInfo to act on at time now_s: an Accepted entry past its expiryDate is Expired
    if now_s is None or info.get("status") != "Accepted":
        return info
    exp = info.get("expiryDate")
    if not exp:
        return info
    t = iso_to_epoch(exp)
    if t is None or t > now_s:
        return info
    out = dict(info)
    out["status"] = "Expired"
    return out


def info_ok(info):
    if not isinstance(info, dict) or info.get("status") not in STATUSES:
        return False
    for k in ("expiryDate", "parentIdTag"):
        v = info.get(k)
        if v is not None and not isinstance(v, str):
            return False
    return True


def tag_ok(tag):
    return isinstance(tag, str) and 0 < len(tag) <= 20


class LocalList:
    def __init__(self, path="auth.json", max_len=100, send_max=20, log=None):
        self.path = path
        self.max_len = max_len  # LocalAuthListMaxLength
        self.send_max = send_max  # SendLocalListMaxLength: entries in one SendLocalList
        self._log = getattr(log, "log", log) if log is not None else log_line
        self.version = 0  # listVersion for GetLocalListVersion: 0 when the list is empty
        self.count = 0  # entries in the list
        self.load()

    def load(self):
        # boot: count the entries of auth.json (auth_list.py, loaded for it)
        lazy.call("auth_list", "load_list", self)

    def lookup(self, tag, now_s=None):
        # idTagInfo of `tag` in the list, or None
        if not self.count or not tag_ok(tag):
            return None
        prefix = "[" + json.dumps(tag.upper()) + ","
        try:
            with open(self.path) as f:
                f.readline()
                for line in f:
                    if line.startswith(prefix):
                        return effective(json.loads(line.rstrip()[:-1])[1], now_s)
        except (OSError, ValueError, IndexError):
            return None
        return None

    def update(self, version, entries, full):
        # SendLocalList: 'Accepted' | 'Failed' | 'VersionMismatch' (auth_list.py, loaded for it)
        return lazy.call("auth_list", "update", self, version, entries, full)


class AuthCache:
    def __init__(self, path="authcache.json", max_entries=20, log=None):
        self.path = path
        self.max_entries = max_entries  # AuthorizationCacheMaxEntries
        self._log = getattr(log, "log", log) if log is not None else log_line
        self._rows = []  # [upper-cased idTag, idTagInfo], least recently used first (as saved)
        self.load()

    def load(self):
        # boot: read authcache.json (auth_list.py, loaded for it)
        lazy.call("auth_list", "load_cache", self)

    def __len__(self):
        return len(self._rows)

    def _take(self, tag):
        # the row of `tag`, taken out of the list, or None
        key = tag.upper()
        rows = self._rows
        for i in range(len(rows)):
            if rows[i][0] == key:
                return rows.pop(i)
        return None

    def lookup(self, tag, now_s=None):
        # idTagInfo of `tag` or None; a hit becomes the most recently used entry
        if not tag_ok(tag):
            return None
        row = self._take(tag)
        if row is None:
            return None
        self._rows.append(row)
        return effective(row[1], now_s)

    def put(self, tag, id_tag_info):
        # remember the backend's answer for `tag` (persisted; the oldest entry goes when full)
        if not tag_ok(tag) or not info_ok(id_tag_info):
            return
        self._take(tag)
        self._rows.append([tag.upper(), id_tag_info])
        self._trim()
        try:
            self.save()
        except OSError as e:  # the cache is an optimisation: keep working from RAM
            self._log("ERROR", "auth: cannot save cache: %r" % (e,))

    def _trim(self):
        while len(self._rows) > self.max_entries:
            self._rows.pop(0)

    def clear(self):
        # ClearCache: True when the empty cache is on flash
        self._rows = []
        try:
            self.save()
        except OSError as e:
            self._log("ERROR", "auth: cannot clear cache: %r" % (e,))
            return False
        return True

    def save(self):
        lazy.call("fsutil", "write_atomic", self.path, json.dumps({"lru": self._rows}))
