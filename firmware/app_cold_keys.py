# The thermal thresholds as OCPP 1.6 configuration keys, on a station with heated zones only
# (docs/thermal.md "Configuration keys"): app_cold.Cold loads this module for each call (lazy.py),
# so a station without zones holds none of it, and one with zones only during the backend's
# configuration CALLs and at boot.
#   FrostgridZoneMinC.<zone>     minimum operating temperature, C   -55 .. 40
#   FrostgridZoneHystK.<zone>    release above the minimum, K       0.2 .. 10, above the drop margin
#   FrostgridZoneCutoffC.<zone>  over-temperature cut-off, C        0 .. 125
#   FrostgridStandbyFloorC       standby floor of the zones without a floor_c of their own, C
#                                                                   -55 .. 0
# and for every zone: cut-off - overtemp_hyst_k >= minimum + hysteresis (the heater is never
# forced off below the release level). A key longer than OCPP's 50 characters (a zone name over
# 29) is not offered. Values are decimal texts with at most two decimals ("-20", "-32.5"); an
# accepted value is written to config.json under the key's name (as the text reported), then
# applied to the running controller; at boot (attach) the stored values override station.json.
import json

from config import Config
from log import log

_PRE = ('FrostgridZoneMinC.', 'FrostgridZoneHystK.', 'FrostgridZoneCutoffC.')
_FLOOR = 'FrostgridStandbyFloorC'
# (lowest, highest) in centi-degrees, by kind: 0 minimum, 1 hysteresis, 2 cut-off, 3 floor
_RANGE = ((-5500, 4000), (20, 1000), (0, 12500), (-5500, 0))
_HEAD = b'{"configurationKey":['


def _keys(cold):
    # (key name, kind, zone index) of every key this station offers
    for i in range(len(cold.names)):
        for k in range(3):
            name = _PRE[k] + cold.names[i]
            if len(name) <= 50:
                yield name, k, i
    yield _FLOOR, 3, -1


def _find(cold, key):
    # (name, kind, zone index) of the key `key` names (OCPP keys are case-insensitive), or None
    if type(key) is not str or not key.lower().startswith('frostgrid'):
        return None
    low = key.lower()
    for f in _keys(cold):
        if f[0].lower() == low:
            return f
    return None


def _value(cold, kind, i):
    # the controller's value now, centi-degrees
    if kind == 3:
        return cold.floor[0]
    z = cold.ctl.zones[i]
    return z.min_cc if kind == 0 else z.hyst_cc if kind == 1 else z.cut_cc


def fmt(v):
    # centi-degrees -> the text reported: '-20', '-32.5', '0.25'
    a = -v if v < 0 else v
    s = '%s%d' % ('-' if v < 0 else '', a // 100)
    if a % 100:
        s += ('.%02d' % (a % 100)).rstrip('0')
    return s


def parse(text):
    # '-20', '+5', '-32.5', '0.25' -> centi-degrees, or None
    t = text.strip()
    neg = t[:1] == '-'
    if t[:1] in ('-', '+'):
        t = t[1:]
    d = t.find('.')
    whole, frac = (t, '') if d < 0 else (t[:d], t[d + 1:])
    if not whole.isdigit() or len(whole) > 4 or (d >= 0 and not (frac.isdigit() and len(frac) <= 2)):
        return None
    v = int(whole) * 100 + (int((frac + '0')[:2]) if frac else 0)
    return -v if neg else v


def _ok(cold, kind, i, v):
    # the value is in its range and leaves the zone consistent
    lo, hi = _RANGE[kind]
    if not lo <= v <= hi:
        return False
    if kind == 3:
        return True
    z = cold.ctl.zones[i]
    mn, hy, cut = z.min_cc, z.hyst_cc, z.cut_cc
    if kind == 0:
        mn = v
    elif kind == 1:
        hy = v
    else:
        cut = v
    return hy > z.drop_cc - z.min_cc and cut - cold.ctl.ot_hyst_cc >= mn + hy


def _apply(cold, kind, i, v):
    if kind == 3:
        cold.floor[0] = v
        for j, z in enumerate(cold.ctl.zones):
            if cold.floor[1] >> j & 1:
                z.floor_cc = v
        return
    z = cold.ctl.zones[i]
    if kind == 0:
        d = v - z.min_cc  # the levels defined relative to the minimum move with it
        z.min_cc = v
        z.hold_cc += d
        z.drop_cc += d
        z.near_cc += d
    elif kind == 1:
        z.hyst_cc = v
    else:
        z.cut_cc = v


def attach(cold, cfg):
    # at boot, once the OCPP core exists: the values stored in config.json override station.json,
    # and the core's Config answers these keys through cold (app_cold.Cold.ocpp_get_json / _change)
    over = cfg._over
    for name, kind, i in _keys(cold):
        if name in over:
            t = over[name]
            v = parse(t) if type(t) is str else None
            if v is not None and _ok(cold, kind, i, v):
                _apply(cold, kind, i, v)
            else:  # e.g. station.json changed since: the station.json value stays
                log('WARN', 'CONFIG %s=%r not applicable, ignored' % (name, t))
    cfg.ocpp_get_json = cold.ocpp_get_json
    cfg.ocpp_change = cold.ocpp_change


def get_json(cold, keys=None):
    # GetConfiguration: the core's keys (Config's own view) with this station's thermal keys first
    cfg = cold.core.cfg
    mine = []
    rest = []
    for k in keys or ():
        f = _find(cold, k)
        if f is None:
            rest.append(k)
        else:
            mine.append(f)
    if not keys:
        mine = list(_keys(cold))
    out = Config.ocpp_get_json(cfg, rest) if rest or not keys else bytearray(_HEAD + b']}')
    ins = bytearray()
    for name, kind, i in mine:
        ins.extend('{"key":%s,"readonly":false,"value":"%s"},'
                   % (json.dumps(name), fmt(_value(cold, kind, i))))
    if ins:
        n = len(_HEAD)
        if out[n] == ord(']'):
            ins = ins[:-1]
        out[n:n] = ins
    return out


def change(cold, key, value_str):
    # ChangeConfiguration: Accepted (stored, then applied at once) | Rejected; other keys: Config's
    cfg = cold.core.cfg
    f = _find(cold, key)
    if f is None:
        return Config.ocpp_change(cfg, key, value_str)
    name, kind, i = f
    v = parse(value_str) if type(value_str) is str else None
    if v is None or not _ok(cold, kind, i, v):
        return 'Rejected'
    over = cfg._over
    had = name in over
    old = over.get(name)
    over[name] = fmt(v)
    try:
        cfg.save()
    except Exception as e:
        if had:
            over[name] = old
        else:
            del over[name]
        log('ERROR', 'config: cannot save %s: %r' % (name, e))
        return 'Rejected'
    _apply(cold, kind, i, v)
    return 'Accepted'
