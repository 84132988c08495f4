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
from micropython import const

import lazy

_STATUSES = const(("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"))


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
    if not isinstance(info, dict) or info.get("status") not in _STATUSES:
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
        if log is None:  # the firmware's log.log
            from log import log
        self._log = getattr(log, "log", log)
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
        if log is None:  # the firmware's log.log
            from log import log
        self._log = getattr(log, "log", log)
        self.items = []  # [upper-cased idTag, idTagInfo], least recently used first (as saved)
        self.load()

    def load(self):
        # boot: read authcache.json (auth_list.py, loaded for it)
        lazy.call("auth_list", "load_cache", self)

    def __len__(self):
        return len(self.items)

    def pop(self, tag):
        # the row of `tag`, taken out of the list, or None
        key = tag.upper()
        rows = self.items
        for i in range(len(rows)):
            if rows[i][0] == key:
                return rows.pop(i)
        return None

    def lookup(self, tag, now_s=None):
        # idTagInfo of `tag` or None; a hit becomes the most recently used entry
        if not tag_ok(tag):
            return None
        row = self.pop(tag)
        if row is None:
            return None
        self.items.append(row)
        return effective(row[1], now_s)

    def put(self, tag, info):
        # remember the backend's answer for `tag` (persisted; the oldest entry goes when full)
        if not tag_ok(tag) or not info_ok(info):
            return
        self.pop(tag)
        self.items.append([tag.upper(), info])
        self._trim()
        try:
            self.save()
        except OSError as e:  # the cache is an optimisation: keep working from RAM
            self._log("ERROR", "auth: cannot save cache: %r" % (e,))

    def _trim(self):
        while len(self.items) > self.max_entries:
            self.items.pop(0)

    def clear(self):
        # ClearCache: True when the empty cache is on flash
        self.items = []
        try:
            self.save()
        except OSError as e:
            self._log("ERROR", "auth: cannot clear cache: %r" % (e,))
            return False
        return True

    def save(self):
        lazy.call("fsutil", "write_atomic", self.path, json.dumps({"lru": self.items}))
