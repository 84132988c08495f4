# Charging profiles of OCPP 1.6 Smart Charging, device side: the store on flash and the limit
# they stack up to at a given time. Pure apart from load/save: time comes in as an argument.
# Loaded on demand (lazy.py) by the setpoint executor (power.py) when its limit runs out, and by
# the Smart Charging CALLs (ocpp16_sc.py); the profiles themselves stay in RAM as compact tuples
# (power.Power.profiles), not as dicts of strings:
#   (id, connectorId, purpose, stackLevel, kind, validFrom_s, validTo_s, start_s, duration_s,
#    unit, minRate10, transactionId, periods)
#   purpose  0 ChargePointMaxProfile, 1 TxDefaultProfile, 2 TxProfile
#   kind     0 Absolute, 1 Recurring Daily, 2 Recurring Weekly, 3 Relative (to the transaction)
#   times    Unix seconds, 0 = not given; duration_s 0 = open-ended; transactionId 0 = any
#   unit     0 A, 1 W; limits and minChargingRate in tenths of the unit (ints: no floats on the heap)
#   periods  flat tuple (startPeriod_s, limit10, numberPhases, ...), startPeriod ascending from 0
# Sign convention: positive is import (charging), negative export (discharge, Frostgrid's
# extension, docs/v2g-ocpp16-extension.md); what a station may do with a negative limit is the
# executor's business, not the store's. (Argument names reuse names the firmware interns anyway:
# every new name is a qstr held for good.)
import json
from micropython import const

import fsutil

_PATH = const('profiles.json')
_CYCLE = const((0, 86400, 604800))  # by kind: Daily, Weekly recur


def load(path=_PATH):
    # the installed profiles, as saved (a write cut short leaves the old file: fsutil), without
    # TxProfiles: a reboot ends the transaction (ocpp16_boot stops it with PowerLoss)
    fsutil.recover(path)
    try:
        with open(path) as f:
            return [tuple(p[:12]) + (tuple(p[12]),) for p in json.load(f) if p[2] != 2]
    except Exception:  # none yet, or unreadable: no profiles rather than no charging
        return []


def save(profiles, path=_PATH):
    fsutil.write_atomic(path, json.dumps(profiles))


def install(profiles, p, most):
    # adds profile `p`, replacing one with its id or with its stack level and purpose on its
    # connector (OCPP 1.6 §5.16.3); False when `most` are installed already
    for i in range(len(profiles) - 1, -1, -1):
        q = profiles[i]
        if q[0] == p[0] or (q[1] == p[1] and q[2] == p[2] and q[3] == p[3]):
            profiles.pop(i)
    if len(profiles) >= most:
        return False
    profiles.append(p)
    return True


def clear(profiles, id=None, cid=None, kind=None, level=None):
    # ClearChargingProfile: by `id`, else every profile matching all the criteria given (connector,
    # purpose `kind`, stack `level`); how many went
    n = len(profiles)
    for i in range(n - 1, -1, -1):
        q = profiles[i]
        if (q[0] == id) if id is not None else (
                (cid is None or q[1] == cid) and (kind is None or q[2] == kind)
                and (level is None or q[3] == level)):
            profiles.pop(i)
    return n - len(profiles)


def end_tx(profiles, path=_PATH):
    # the transaction ended: its TxProfiles go, on flash too
    if clear(profiles, None, None, 2):
        save(profiles, path)


def setup(pw, cfg, path=_PATH):
    # a new power.Power `pw` with configuration `cfg` (power.py says what) and the saved profiles
    pw.cfg = cfg
    pw.profiles = load(path)
    pw.limit = pw.txid = pw.start = pw.t0 = pw.hold = None
    pw.end = -1
    pw.tx = pw.value = pw.export_wh = 0
    pw.max = cfg[0]
    pw.soc_pct = -1
    return pw


def update(pw, t, tx, txid):
    # power.Power's limit and the time it ends, recomputed at `t` for transaction `tx` (local id,
    # 0 = none) with backend id `txid`; a transaction that ended takes its TxProfiles along
    pw.end = -1  # until done: a step that fails for want of heap is retried
    if tx != pw.tx:
        pw.start = t if tx else None
        if not tx and pw.profiles:
            end_tx(pw.profiles)
    pw.tx, pw.txid = tx, txid
    top = pw.cfg[0]
    if pw.profiles:
        pw.limit, pw.end = limit(pw.profiles, t, 1, txid, pw.start, pw.cfg[1])
        cap = limit([p for p in pw.profiles if p[2] == 0], t, 1, txid, pw.start, pw.cfg[1])[0]
        pw.max = top if cap is None or cap > top else max(cap, 0)
    else:
        pw.limit, pw.end, pw.max = None, 0, top


def value(p, t, start, v):
    # (profile `p`'s limit in W at `t` or None when it does not apply, next time that may change or
    # 0 = never); start: Unix s the transaction started (None: none runs); v: phase voltage
    if p[5] and t < p[5]:
        return None, p[5]
    end = p[6]
    if end and t >= end:
        return None, 0
    kind, s0, duration = p[4], p[7], p[8]
    cyc = 0
    if kind == 3:
        if start is None:
            return None, 0
        s0 = start
    elif kind:
        cyc = _CYCLE[kind]
        if t >= s0:
            s0 += (t - s0) // cyc * cyc
    if t < s0:
        return None, first(s0, end)
    el = t - s0
    nxt = s0 + cyc if cyc else 0
    if duration and el >= duration:
        return None, first(nxt, end)
    per = p[12]
    i = 0
    while i + 3 < len(per) and per[i + 3] <= el:
        i += 3
    if per[i] > el:  # before the first period (it should start at 0)
        return None, first(s0 + per[i], end)
    if i + 3 < len(per):
        nxt = s0 + per[i + 3]
    if duration and (not nxt or s0 + duration < nxt):
        nxt = s0 + duration
    lim = per[i + 1]
    if p[10] and 0 < lim < p[10]:
        lim = 0  # below the EV's minimum charging rate: pause rather than charge badly
    if p[9] == 0:  # A; discharge is asked in W only (docs/v2g-ocpp16-extension.md)
        return (lim * v * per[i + 2] // 10 if lim > 0 else 0), first(nxt, end)
    return lim // 10, first(nxt, end)


def first(a, b):
    # the earlier of two times, 0 meaning never
    return a if not b or (a and a < b) else b


def limit(profiles, t, cid, txid, start, v):
    # (the composite limit in W at `t` or None when no profile applies, next time it may change
    # or 0): the ChargePointMaxProfile with the highest stack level valid at `t` bounds the
    # TxProfile (while a transaction runs, of it or of any) or else the TxDefaultProfile (a
    # connector's own above connector 0's), each the one with the highest stack level valid at `t`.
    # A ChargePointMaxProfile bounds both directions: it is the station's connection to the grid.
    best = [None, None, None]  # limit_w per purpose
    rank = [-1, -1, -1]
    nxt = 0
    for p in profiles:
        pur = p[2]
        if pur == 2 and (start is None or (p[11] and p[11] != txid)):
            continue
        if (p[1] != cid) if pur == 2 else (p[1] and p[1] != cid):
            continue
        w, n = value(p, t, start, v)
        nxt = first(nxt, n)
        r = p[3] + (1000 if pur == 1 and p[1] else 0)
        if w is not None and r > rank[pur]:
            best[pur], rank[pur] = w, r
    lim = best[2] if best[2] is not None else best[1]
    cap = best[0]
    if cap is not None:
        if lim is None or lim > cap:
            lim = cap
        elif cap >= 0 and lim < -cap:
            lim = -cap
    return lim, nxt


def composite(profiles, t0, duration, cid, txid, start, v, default):
    # GetCompositeSchedule: [(startPeriod_s, limit_w), ...] over [t0, t0 + duration), equal
    # neighbours merged; where no profile applies the station's own limit `default`
    out = []
    t = t0
    for _ in range(200):  # bounded: profiles * periods * cycles in any sane window
        w, n = limit(profiles, t, cid, txid, start, v)
        if w is None:
            w = default
        if not out or out[-1][1] != w:
            out.append((t - t0, w))
        if not n or n >= t0 + duration or n <= t:
            break
        t = n
    return out
