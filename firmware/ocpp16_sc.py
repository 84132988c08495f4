# The Smart Charging CALLs of the Central System (SetChargingProfile, ClearChargingProfile,
# GetCompositeSchedule) for ocpp16_calls, which loads this module for each (lazy.py). Payloads
# become the compact profile tuples of profiles.py, kept by the setpoint executor (core.power,
# power.Power) and saved on flash before the answer goes out. Frostgrid's discharge extension
# (docs/v2g-ocpp16-extension.md): a negative limit in W asks a FrostgridDischargeCapable station
# to discharge; other stations take the profile and never go below 0.
from micropython import const

import ocpp16_msg as msg
import profiles
from ocpp16_calls import Bad, get, enum
from ocpp16_time import parse_iso

_PURPOSES = const(('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'))
_KINDS = const(('Absolute', 'Recurring', 'Relative'))
_UNITS = const(('A', 'W'))
_PHASES = const(3)  # numberPhases when a period does not say
# power.Power.cfg by index (as in power.py)
_MAX_W = const(0)
_VOLTS = const(1)
_CAPABLE = const(2)


def handle(core, action, p, now_ms):
    pw = core.power
    now = core.now_s()
    cid = get(p, 'connectorId', int, action != 'ClearChargingProfile')
    if action == 'ClearChargingProfile':
        pur = p.get('chargingProfilePurpose')
        if pur is not None:
            pur = _PURPOSES.index(enum(p, 'chargingProfilePurpose', _PURPOSES))
        n = profiles.clear(pw.profiles, get(p, 'id', int, False), cid, pur, get(p, 'stackLevel', int, False))
        if not n:
            return 'Unknown'
        profiles.save(pw.profiles)
        pw.end = -1  # the executor recomputes its limit
        core.log('PROFILE_CLEARED n=%d' % n)
        return 'Accepted'

    if action == 'GetCompositeSchedule':
        dur = get(p, 'duration', int)
        unit = enum(p, 'chargingRateUnit', _UNITS) if 'chargingRateUnit' in p else 'W'
        if cid not in (0, core.conn.connector_id) or dur < 0:
            return 'Rejected'
        per = []
        cfg = pw.cfg
        for s, w in profiles.composite(pw.profiles, now, dur, 1, core.tx_id(),
                                       pw.start if pw.tx else now, cfg[_VOLTS], cfg[_MAX_W]):
            if w < 0 and not cfg[_CAPABLE]:
                w = 0
            per.append({'startPeriod': s,
                        'limit': w if unit == 'W' else round(w * 10 / (cfg[_VOLTS] * _PHASES)) / 10})
        ts = msg.iso(now)
        return {'status': 'Accepted', 'connectorId': cid, 'scheduleStart': ts,
                'chargingSchedule': {'duration': dur, 'startSchedule': ts, 'chargingRateUnit': unit,
                                     'chargingSchedulePeriod': per}}

    # SetChargingProfile
    cp = get(p, 'csChargingProfiles', dict)
    pid = get(cp, 'chargingProfileId', int)
    stack = get(cp, 'stackLevel', int)
    pur = _PURPOSES.index(enum(cp, 'chargingProfilePurpose', _PURPOSES))
    kind = _KINDS.index(enum(cp, 'chargingProfileKind', _KINDS))
    if kind == 1:
        kind = 2 if enum(cp, 'recurrencyKind', ('Daily', 'Weekly')) == 'Weekly' else 1
    elif kind == 2:
        kind = 3
    txid = get(cp, 'transactionId', int, False)
    sch = get(cp, 'chargingSchedule', dict)
    unit = _UNITS.index(enum(sch, 'chargingRateUnit', _UNITS))
    dur = get(sch, 'duration', int, False) or 0
    per = get(sch, 'chargingSchedulePeriod', list)
    flat = []
    for q in per:
        if type(q) is not dict:
            raise Bad('TypeConstraintViolation', 'chargingSchedulePeriod')
        flat.append(get(q, 'startPeriod', int))
        flat.append(rate(q, 'limit', True))
        flat.append(get(q, 'numberPhases', int, False) or _PHASES)
    c = core.conn.connector_id
    run = core.tx_ltx
    if (cid not in (0, c) or not 0 <= stack <= (core.cfg_get('ChargeProfileMaxStackLevel') or 8)
            or not 0 < len(per) <= (core.cfg_get('ChargingScheduleMaxPeriods') or 24) or flat[0] != 0
            or dur < 0 or (pur == 0) != (cid == 0)
            or (pur == 2 and (not run or (txid is not None and txid != core.tx_id())))):
        return 'Rejected'
    for i in range(3, len(flat), 3):
        if flat[i] <= flat[i - 3] or not 1 <= flat[i + 2] <= 3:
            return 'Rejected'
    if not 1 <= flat[2] <= 3:
        return 'Rejected'
    start = 0 if kind == 3 else (time(sch, 'startSchedule') or now)
    prof = (pid, cid, pur, stack, kind, time(cp, 'validFrom'), time(cp, 'validTo'), start, dur, unit,
            rate(sch, 'minChargingRate', False), txid or 0, tuple(flat))
    keep = list(pw.profiles)
    if not profiles.install(pw.profiles, prof, core.cfg_get('MaxChargingProfilesInstalled') or 8):
        return 'Rejected'
    try:
        profiles.save(pw.profiles)
    except Exception:  # not on flash, not installed: the backend may send it again
        pw.profiles[:] = keep
        raise
    pw.end = -1
    core.log('PROFILE_SET id=%d purpose=%d stack=%d' % (pid, pur, stack))
    return 'Accepted'


def rate(d, key, required):  # (helper names shared with other modules: no new qstrs)
    # a decimal number (limit, minChargingRate) in tenths, as an int; 0 when optional and absent
    v = d.get(key)
    if v is None and not required:
        return 0
    if type(v) is not int and type(v) is not float:
        raise Bad('TypeConstraintViolation' if v is not None else 'OccurenceConstraintViolation', key)
    return round(v * 10)


def time(d, key):
    # an ISO 8601 time field as Unix s, 0 when absent
    v = get(d, key, str, False)
    if v is None:
        return 0
    t = parse_iso(v)
    if t is None:
        raise Bad('PropertyConstraintViolation', key)
    return t
