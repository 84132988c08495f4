# Persisted settings: OCPP configuration keys (ocpp_keys.KEYS) and internal ones (INTERNAL).
#
# config.json is a flat JSON object {key: value} holding only the values that differ from the
# built-in defaults by choice (set or changed, or written by an installer); missing keys take
# their defaults. Every change rewrites it atomically (fsutil.write_atomic). A file that does not
# parse, is not an object, or holds a value of the wrong type or out of range is renamed to
# config.json.corrupt and the factory defaults load, with an ERROR logged.
import json

import fsutil
import ocpp_keys

_MISSING = object()


def _default_log(level, msg):
    try:
        import log
    except ImportError:
        print(level, msg)
        return
    log.log(level, msg)


class Config:
    def __init__(self, path="config.json", log=None):
        self.path = path
        # `log` may be the log module or a log(level, msg) function
        self._log = getattr(log, "log", log) if log is not None else _default_log
        self._over = {}  # key -> typed value differing from the defaults by choice
        self.load()

    def load(self):
        self._over = {}
        fsutil.recover(self.path, None, _parses)
        if not fsutil.exists(self.path):
            return
        try:
            with open(self.path) as f:
                data = json.load(f)
        except Exception as e:  # bad JSON, bad UTF-8, unreadable
            self._corrupt("unreadable (%r)" % (e,))
            return
        if not isinstance(data, dict):
            self._corrupt("not a JSON object")
            return
        for key, value in data.items():
            if not _valid(key, value):
                self._corrupt("bad value for %s: %r" % (key, value))
                return
        self._over = data

    def _corrupt(self, why):
        aside = self.path + ".corrupt"
        fsutil.remove(aside)
        try:
            fsutil.rename(self.path, aside)
        except OSError:
            fsutil.remove(self.path)
        self._over = {}
        self._log("ERROR", "config: %s %s, kept as %s; factory defaults loaded" % (self.path, why, aside))

    def get(self, key):
        v = self._over.get(key, _MISSING)
        if v is not _MISSING:
            return v
        spec = ocpp_keys.KEYS.get(key)
        if spec is not None:
            return spec[1]
        return ocpp_keys.INTERNAL[key]  # KeyError for a key nobody defined

    def set(self, key, value):
        if key not in ocpp_keys.KEYS and key not in ocpp_keys.INTERNAL:
            raise KeyError(key)
        if not _valid(key, value):
            raise ValueError("config: bad value for %s: %r" % (key, value))
        old = self._over.get(key, _MISSING)
        self._over[key] = value
        try:
            self.save()
        except Exception:
            if old is _MISSING:
                del self._over[key]
            else:
                self._over[key] = old
            raise

    def save(self):
        fsutil.write_atomic(self.path, json.dumps(self._over))

    def reset(self):
        # factory defaults, persisted
        self._over = {}
        self.save()

    def ocpp_get(self, keys=None):
        # GetConfiguration: all OCPP keys when `keys` is empty; unknown names are echoed back
        out = []
        unknown = []
        if not keys:
            for name in ocpp_keys.KEYS:
                out.append(self._entry(name))
        else:
            for k in keys:
                name = ocpp_keys.find(k)
                if name is None:
                    unknown.append(k)
                else:
                    out.append(self._entry(name))
        return out, unknown

    def _entry(self, name):
        return {"key": name, "readonly": bool(ocpp_keys.KEYS[name][2] & ocpp_keys.RO),
                "value": ocpp_keys.to_text(self.get(name))}

    def ocpp_change(self, key, value_str):
        # ChangeConfiguration
        name = ocpp_keys.find(key)
        if name is None:
            return "NotSupported"
        flags = ocpp_keys.KEYS[name][2]
        if flags & ocpp_keys.RO or not isinstance(value_str, str):
            return "Rejected"
        try:
            value = ocpp_keys.parse(name, value_str)
        except ValueError:
            return "Rejected"
        try:
            self.set(name, value)
        except OSError as e:
            self._log("ERROR", "config: cannot save %s: %r" % (name, e))
            return "Rejected"
        return "RebootRequired" if flags & ocpp_keys.REBOOT else "Accepted"


def _valid(key, value):
    if key in ocpp_keys.KEYS:
        return ocpp_keys.valid(key, value)
    default = ocpp_keys.INTERNAL.get(key, _MISSING)
    if default is _MISSING:
        # a key this firmware does not know (written by a newer one): keep it, typed
        return isinstance(value, (int, float, str, dict, list)) or value is None
    if isinstance(default, dict):
        if not isinstance(value, dict):
            return False
        for k, v in value.items():
            if not isinstance(v, int) or isinstance(v, bool):
                return False
        return True
    return type(value) is type(default)


def _parses(path):
    # a tmp file left by a cut inside a FAT rename is kept only if it is a whole JSON object
    try:
        with open(path) as f:
            return isinstance(json.load(f), dict)
    except Exception:
        return False
