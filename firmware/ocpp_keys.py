# OCPP 1.6 configuration keys: value checks and the Get/ChangeConfiguration views of a Config.
# The key table itself (config.KEYS) stays in config.py, reading config.json at boot is in
# config_load.py; this module is loaded only for these (lazy.py) and dropped after each use.
import json
from micropython import const

from config import KEYS, RO, REBOOT, INTERNAL, spec  # noqa: F401 (re-exported)

# measurands the board can deliver (its meter gives the energy register and active power);
# a CSL naming anything else is refused, as OCPP 1.6 asks for unsupported measurands
_MEASURANDS = const((
    "Energy.Active.Import.Register",
    "Energy.Active.Import.Interval",
    "Power.Active.Import",
    "Power.Active.Export",  # discharge (docs/v2g-ocpp16-extension.md)
    "Energy.Active.Export.Register",
    "SoC",
    "Voltage",  # per phase, from a Modbus meter (ocpp16_mv)
    "Current.Import",
))
_ROTATIONS = const(("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"))
_MAX_VALUE_LEN = const(500)  # ChangeConfiguration value is CiString500


def internal_default(key):
    if key == "Operative":
        return True  # ChangeAvailability persists across reboots: False = Inoperative
    if key == "esp32_pins":  # GPIO numbers of the esp32 board (built from text: no names interned)
        pins = {}
        for kv in "cp_adc=36 cp_pwm=25 contactor=26 lock=27 uart_tx=17 uart_rx=16 rs485_de=4".split():
            k, v = kv.split("=")
            pins[k] = int(v)
        return pins
    raise KeyError(key)  # a key nobody defined


def names():
    # the OCPP key names, in table order
    return [line[:line.find(" ")] for line in KEYS.split("\n") if line]


def find(name):
    # the canonical key name for `name` (OCPP key names are case-insensitive), or None
    if type(name) is not str:
        return None
    if spec(name) is not None:
        return name
    low = name.lower()
    for k in names():
        if k.lower() == low:
            return k
    return None


def _csl_ok(typ, text, most):
    if text == "":
        return True
    n = 0
    for item in text.split(","):
        item = item.strip()
        n += 1
        if typ == "m":
            if item not in _MEASURANDS:
                return False
        else:
            dot = item.find(".")
            if dot < 1 or item[dot + 1:] not in _ROTATIONS:
                return False
            try:
                if int(item[:dot]) < 0:
                    return False
            except ValueError:
                return False
    return n <= most


def valid(name, value):
    # True when `value` (a typed value) is acceptable for OCPP key `name`
    typ, default, flags, lo, hi = spec(name)
    if typ == "b":
        return value is True or value is False
    if typ == "i":
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if not isinstance(value, str):
        return False
    if typ == "s":
        return len(value) <= hi
    return _csl_ok(typ, value, hi)


def check(key, value, known_only=False):
    # True/False: `value` is acceptable for setting `key`; None: `key` is unknown and known_only
    if spec(key) is not None:
        return valid(key, value)
    if key not in INTERNAL:
        if known_only:
            return None
        # a key this firmware does not know (written by a newer one): keep it, typed
        return isinstance(value, (int, float, str, dict, list)) or value is None
    default = internal_default(key)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            return False
        for v in value.values():
            if not isinstance(v, int) or isinstance(v, bool):
                return False
        return True
    return type(value) is type(default)


def parse(name, text):
    # ChangeConfiguration value text -> typed value; raises ValueError when not acceptable
    typ = spec(name)[0]
    if len(text) > _MAX_VALUE_LEN:
        raise ValueError("too long")
    if typ == "b":
        low = text.strip().lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise ValueError("not a boolean")
    if typ == "i":
        t = text.strip()
        digits = t[1:] if t[:1] in ("-", "+") else t
        if not digits or not digits.isdigit():
            raise ValueError("not an integer")
        value = int(t)
    elif typ == "s":
        value = text
    else:
        value = ",".join([item.strip() for item in text.split(",")]) if text.strip() else ""
    if not valid(name, value):
        raise ValueError("out of range")
    return value


def to_text(value):
    # typed value -> the text GetConfiguration reports
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def ocpp_get(cfg, keys=None):
    # GetConfiguration on Config `cfg`: all OCPP keys when `keys` is empty; unknown names echoed back
    out = []
    unknown = []
    for k in keys or names():
        name = find(k)
        if name is None:
            unknown.append(k)
        else:
            out.append({"key": name, "readonly": bool(spec(name)[2] & RO), "value": to_text(cfg.get(name))})
    return out, unknown


def ocpp_get_json(cfg, keys=None):
    # ocpp_get as the GetConfiguration payload in JSON bytes, written key by key into one buffer:
    # all the keys as a list of dicts and then their JSON text would need three times the heap
    out = bytearray(b'{"configurationKey":[')
    unknown = []
    sep = ''
    for k in keys or _names():
        name = find(k)
        if name is None:
            unknown.append(k)
            continue
        out.extend('%s{"key":"%s","readonly":%s,"value":%s}'
                   % (sep, name, 'true' if spec(name)[2] & RO else 'false',
                      json.dumps(to_text(cfg.get(name)))))
        sep = ','
    out.extend(']')
    if unknown:
        out.extend(',"unknownKey":')
        out.extend(json.dumps(unknown))
    out.extend('}')
    return out


def _names():
    # the OCPP key names in table order, one at a time
    i = 1
    while i < len(KEYS):
        j = KEYS.find('\n', i)
        yield KEYS[i:KEYS.find(' ', i)]
        i = j + 1


def ocpp_change(cfg, key, value_str):
    # ChangeConfiguration on Config `cfg`
    name = find(key)
    if name is None:
        return "NotSupported"
    flags = spec(name)[2]
    if flags & RO or not isinstance(value_str, str):
        return "Rejected"
    try:
        value = parse(name, value_str)
    except ValueError:
        return "Rejected"
    try:
        cfg.set(name, value)
    except OSError as e:
        cfg._log("ERROR", "config: cannot save %s: %r" % (name, e))
        return "Rejected"
    return "RebootRequired" if flags & REBOOT else "Accepted"
