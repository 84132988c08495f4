# The rarely run parts of auth: loading the local list and the cache at boot, and SendLocalList
# for auth.LocalList (check the entries and rewrite auth.json, the old list unless a Full update
# with the changes applied, through a tmp file and a rename). Loaded for each call (lazy.py).
import json

import fsutil
from micropython import const

from auth import info_ok, tag_ok

_FOOT = const("null]}\n")  # the last line of auth.json (auth.py)


def load_list(ll):
    # LocalList.load: count the entries, never hold them
    ll.version = 0
    ll.count = 0
    fsutil.recover(ll.path, None, _whole_list)
    if not fsutil.exists(ll.path):
        return
    try:
        with open(ll.path) as f:
            head = json.loads(f.readline().rstrip() + "]}")
            version = head["version"]
            if not isinstance(version, int):
                raise ValueError("version")
            n = 0
            for line in f:
                if line.startswith("["):
                    n += 1
    except Exception as e:
        aside = ll.path + ".corrupt"
        fsutil.remove(aside)
        fsutil.rename(ll.path, aside)
        ll._log("ERROR", "auth: %s unreadable (%r), kept as %s; local list empty" % (ll.path, e, aside))
        return
    ll.count = n
    ll.version = version if n else 0


def load_cache(c):
    # AuthCache.load
    c.items = []
    fsutil.recover(c.path, None, _whole_json)
    if not fsutil.exists(c.path):
        return
    try:
        with open(c.path) as f:
            rows = json.load(f)["lru"]
        for tag, info in rows:
            if tag_ok(tag) and info_ok(info):
                c.items.append([tag.upper(), info])
    except Exception as e:
        c.items = []
        fsutil.remove(c.path)
        c._log("ERROR", "auth: cache %s unreadable (%r), cleared" % (c.path, e))
        return
    c._trim()


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


def update(ll, version, entries, full):
    # 'Accepted' | 'Failed' | 'VersionMismatch'
    entries = entries or []
    if not isinstance(version, int) or version < 0 or len(entries) > ll.send_max:
        return "Failed"
    if not full and version <= ll.version:
        return "VersionMismatch"
    upd = {}  # upper-cased idTag -> idTagInfo, None = delete
    for e in entries:
        if not isinstance(e, dict) or not tag_ok(e.get("idTag")):
            return "Failed"
        info = e.get("idTagInfo")
        if info is None:
            if full:
                return "Failed"
        elif not info_ok(info):
            return "Failed"
        upd[e["idTag"].upper()] = info
    try:
        n = _rewrite(ll, version, upd, full)
    except (OSError, ValueError) as e:
        ll._log("ERROR", "auth: cannot write %s: %r" % (ll.path, e))
        return "Failed"
    if n < 0:
        return "Failed"
    ll.count = n
    ll.version = version if n else 0
    return "Accepted"


def _rewrite(ll, version, upd, full):
    # new list = (old list unless full) with upd applied; -1 (nothing written) if too long
    f = fsutil.open_tmp(ll.path)
    try:
        f.write('{"version": %d, "list": [\n' % version)
        n = 0
        if not full and ll.count:
            with open(ll.path) as src:
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
                f.write("[" + json.dumps(key) + "," + json.dumps(info) + "],\n")
                n += 1
        f.write(_FOOT)
    except Exception:
        fsutil.abort(f, ll.path)
        raise
    if n > ll.max_len:
        fsutil.abort(f, ll.path)
        return -1
    fsutil.commit(f, ll.path)
    return n
