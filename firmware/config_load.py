# Config.load for config.py, loaded only for it (lazy.py): config.json -> Config._over, checked
# key by key (ocpp_keys.check); a file that does not parse, is not an object or holds a bad value
# is kept aside as config.json.corrupt and the factory defaults load, with an ERROR logged.
import json

import fsutil
from ocpp_keys import check


def load(cfg):
    # Config.load: config.json -> cfg._over; a corrupt file is kept aside and defaults load
    cfg._over = {}
    fsutil.recover(cfg.path, None, _parses)
    if not fsutil.exists(cfg.path):
        return
    try:
        with open(cfg.path) as f:
            data = json.load(f)
    except Exception as e:  # bad JSON, bad UTF-8, unreadable
        _corrupt(cfg, "unreadable (%r)" % (e,))
        return
    if not isinstance(data, dict):
        _corrupt(cfg, "not a JSON object")
        return
    bad = first_bad(data)
    if bad is not None:
        _corrupt(cfg, "bad value for %s: %r" % (bad, data[bad]))
        return
    cfg._over = data


def _corrupt(cfg, reason):
    aside = cfg.path + ".corrupt"
    fsutil.remove(aside)
    try:
        fsutil.rename(cfg.path, aside)
    except OSError:
        fsutil.remove(cfg.path)
    cfg._over = {}
    cfg._log("ERROR", "config: %s %s, kept as %s; factory defaults loaded" % (cfg.path, reason, aside))


def _parses(path):
    # a tmp file left by a cut inside a FAT rename is kept only if it is a whole JSON object
    try:
        with open(path) as f:
            return isinstance(json.load(f), dict)
    except Exception:
        return False


def first_bad(data):
    # the first key of a loaded config.json object whose value is not acceptable, or None
    for key, value in data.items():
        if not check(key, value):
            return key
    return None
