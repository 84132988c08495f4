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
# The cache is small (AuthorizationCacheMaxEntries) and lives in RAM, persisted to
# authcache.json as {"lru": [[tag, idTagInfo], ...]}, least recently used first.
import json

import fsutil

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
_FOOT = "null]}\n"


def _default_log(level, msg):
    try:
        import log
    except ImportError:
        print(level, msg)
        return
    log.log(level, msg)


def _key(tag):
    return tag.upper()


def _days(y, m, d):
    # days from 1970-01-01 to y-m-d (proleptic Gregorian), y >= 1970
    n = 0
    for yy in range(1970, y):
        n += 366 if (yy % 4 == 0 and yy % 100 != 0) or yy % 400 == 0 else 365
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    before = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)[m - 1]
    return n + before + (1 if leap and m > 2 else 0) + d - 1


def iso_to_epoch(s):
    # "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" -> Unix seconds, None when it does not parse
    try:
        if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] not in "Tt " or s[13] != ":":
            return None
        y = int(s[0:4])
        mo = int(s[5:7])
        d = int(s[8:10])
        t = int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])
        if y < 1970 or not 1 <= mo <= 12 or not 1 <= d <= 31:
            return None
        rest = s[19:]
        if rest[:1] == ".":
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            rest = rest[i:]
        off = 0
        if rest[:1] in ("+", "-"):
            off = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if rest[0] == "-":
                off = -off
        elif rest not in ("", "Z", "z"):
            return None
        return _days(y, mo, d) * 86400 + t - off
    except (ValueError, IndexError):
        return None


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


def _info_ok(info):
    if not isinstance(info, dict) or info.get("status") not in STATUSES:
        return False
    for k in ("expiryDate", "parentIdTag"):
        v = info.get(k)
        if v is not None and not isinstance(v, str):
            return False
    return True


def _tag_ok(tag):
    return isinstance(tag, str) and 0 < len(tag) <= 20


def _whole_list(path):
    # a tmp local list left by a cut inside a FAT rename is used only if it was written to the end
    last = ""
    try:
        with open(path) as f:
            for line in f:
                last = line
    except Exception:
        return False
    return last == _FOOT


def _whole_json(path):
    try:
        with open(path) as f:
            json.load(f)
        return True
    except Exception:
        return False


def _line(key, info):
    return "[" + json.dumps(key) + "," + json.dumps(info) + "],\n"


class LocalList:
    def __init__(self, path="auth.json", max_len=100, send_max=20, log=None):
        self.path = path
        self.max_len = max_len  # LocalAuthListMaxLength
        self.send_max = send_max  # SendLocalListMaxLength: entries in one SendLocalList
        self._log = getattr(log, "log", log) if log is not None else _default_log
        self.version = 0  # listVersion for GetLocalListVersion: 0 when the list is empty
        self.count = 0  # entries in the list
        self.load()

    def load(self):
        self.version = 0
        self.count = 0
        fsutil.recover(self.path, None, _whole_list)
        if not fsutil.exists(self.path):
            return
        try:
            with open(self.path) as f:
                head = json.loads(f.readline().rstrip() + "]}")
                version = head["version"]
                if not isinstance(version, int):
                    raise ValueError("version")
                n = 0
                for line in f:
                    if line.startswith("["):
                        n += 1
        except Exception as e:
            aside = self.path + ".corrupt"
            fsutil.remove(aside)
            fsutil.rename(self.path, aside)
            self._log("ERROR", "auth: %s unreadable (%r), kept as %s; local list empty"
                      % (self.path, e, aside))
            return
        self.count = n
        self.version = version if n else 0

    def lookup(self, tag, now_s=None):
        # idTagInfo of `tag` in the list, or None
        if not self.count or not _tag_ok(tag):
            return None
        prefix = "[" + json.dumps(_key(tag)) + ","
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
        # SendLocalList: 'Accepted' | 'Failed' | 'VersionMismatch'
        entries = entries or []
        if not isinstance(version, int) or version < 0 or len(entries) > self.send_max:
            return "Failed"
        if not full and version <= self.version:
            return "VersionMismatch"
        upd = {}  # key -> idTagInfo, None = delete
        for e in entries:
            if not isinstance(e, dict) or not _tag_ok(e.get("idTag")):
                return "Failed"
            info = e.get("idTagInfo")
            if info is None:
                if full:
                    return "Failed"
            elif not _info_ok(info):
                return "Failed"
            upd[_key(e["idTag"])] = info
        try:
            n = self._rewrite(version, upd, full)
        except (OSError, ValueError) as e:
            self._log("ERROR", "auth: cannot write %s: %r" % (self.path, e))
            return "Failed"
        if n < 0:
            return "Failed"
        self.count = n
        self.version = version if n else 0
        return "Accepted"

    def _rewrite(self, version, upd, full):
        # new list = (old list unless full) with upd applied; -1 (nothing written) if too long
        f = fsutil.open_tmp(self.path)
        try:
            f.write('{"version": %d, "list": [\n' % version)
            n = 0
            if not full and self.count:
                with open(self.path) as src:
                    src.readline()
                    for line in src:
                        if not line.startswith("["):
                            continue
                        if json.loads(line.rstrip()[:-1])[0] in upd:
                            continue
                        f.write(line)
                        n += 1
            for key, info in upd.items():
                if info is not None:
                    f.write(_line(key, info))
                    n += 1
            f.write(_FOOT)
        except Exception:
            fsutil.abort(f, self.path)
            raise
        if n > self.max_len:
            fsutil.abort(f, self.path)
            return -1
        fsutil.commit(f, self.path)
        return n


class AuthCache:
    def __init__(self, path="authcache.json", max_entries=20, log=None):
        self.path = path
        self.max_entries = max_entries  # AuthorizationCacheMaxEntries
        self._log = getattr(log, "log", log) if log is not None else _default_log
        self._tags = []  # upper-cased idTags, least recently used first
        self._infos = []  # their idTagInfo, same order
        self.load()

    def load(self):
        self._tags = []
        self._infos = []
        fsutil.recover(self.path, None, _whole_json)
        if not fsutil.exists(self.path):
            return
        try:
            with open(self.path) as f:
                rows = json.load(f)["lru"]
            for tag, info in rows:
                if _tag_ok(tag) and _info_ok(info):
                    self._tags.append(_key(tag))
                    self._infos.append(info)
        except Exception as e:
            self._tags = []
            self._infos = []
            fsutil.remove(self.path)
            self._log("ERROR", "auth: cache %s unreadable (%r), cleared" % (self.path, e))
            return
        self._trim()

    def __len__(self):
        return len(self._tags)

    def _index(self, key):
        tags = self._tags
        for i in range(len(tags)):
            if tags[i] == key:
                return i
        return -1

    def lookup(self, tag, now_s=None):
        # idTagInfo of `tag` or None; a hit becomes the most recently used entry
        if not _tag_ok(tag):
            return None
        i = self._index(_key(tag))
        if i < 0:
            return None
        info = self._infos[i]
        self._touch(i)
        return effective(info, now_s)

    def _touch(self, i):
        if i != len(self._tags) - 1:
            self._tags.append(self._tags.pop(i))
            self._infos.append(self._infos.pop(i))

    def put(self, tag, id_tag_info):
        # remember the backend's answer for `tag` (persisted; the oldest entry goes when full)
        if not _tag_ok(tag) or not _info_ok(id_tag_info):
            return
        key = _key(tag)
        i = self._index(key)
        if i >= 0:
            self._tags.pop(i)
            self._infos.pop(i)
        self._tags.append(key)
        self._infos.append(id_tag_info)
        self._trim()
        try:
            self.save()
        except OSError as e:  # the cache is an optimisation: keep working from RAM
            self._log("ERROR", "auth: cannot save cache: %r" % (e,))

    def _trim(self):
        while len(self._tags) > self.max_entries:
            self._tags.pop(0)
            self._infos.pop(0)

    def clear(self):
        # ClearCache: True when the empty cache is on flash
        self._tags = []
        self._infos = []
        try:
            self.save()
        except OSError as e:
            self._log("ERROR", "auth: cannot clear cache: %r" % (e,))
            return False
        return True

    def save(self):
        rows = [[self._tags[i], self._infos[i]] for i in range(len(self._tags))]
        fsutil.write_atomic(self.path, json.dumps({"lru": rows}))
