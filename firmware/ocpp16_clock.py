# Clock-aligned meter values of ocpp16 (ClockAlignedDataInterval), loaded for each use (lazy.py):
#   aligned(core, iv)   at each boundary of `iv` seconds counted from midnight UTC a Sample.Clock
#                       MeterValues of MeterValuesAlignedData, on the connector with its
#                       transaction while one runs (transactionId added when sent), else on
#                       connector 0 (the station's meter) without one; the boundary is the
#                       timestamp. StopTxnAlignedData: the samples of the running transaction are
#                       kept (core.tx_al, at most _STOP_ALIGNED) for its StopTransaction.
#   stop_aligned(...)   those samples as StopTransaction meterValues (ocpp16_tx)
# Readings are M journal records (ocpp16_mv.put); ltx 0: outside a transaction.
from array import array
from micropython import const

import ocpp16_msg as msg
from ocpp16_mv import put, sampled

_DAY = const(86400)
_STOP_ALIGNED = const(24)  # clock-aligned samples kept for a StopTransaction (3 ints each)


def aligned(core, iv):
    # Ocpp16.step calls this when the planned boundary (core.aligned_at, wall clock s) has come,
    # or is not one of the next `iv` s (first call, interval changed, clock set): a sample only
    # when the boundary that passed is the one planned, then the next one is planned. The day's
    # last interval ends at midnight when `iv` does not divide a day.
    now = core.now_s()
    day = now - now % _DAY
    b = day + (now - day) // iv * iv
    due = b == core.aligned_at
    core.aligned_at = min(b + iv, day + _DAY)
    e, p = core.meter()
    last = getattr(core, 'al_wh', None)
    core.al_wh = e  # Energy.Active.Import.Interval: since the previous boundary (or boot)
    if not due:
        return
    ms = core.cfg_get('MeterValuesAlignedData')
    ltx = core.tx_ltx
    if ms:
        sv = sampled('Sample.Clock', e, p, ms, 0 if last is None else e - last, getattr(core, 'power', None),
                     getattr(core, 'mtr', None))
        put(core, ltx, core.conn.connector_id if ltx else 0, msg.iso(b), sv)
    if ltx and core.cfg_get('StopTxnAlignedData'):
        # kept for StopTransaction's transactionData: [first boundary, array of (boundary - the
        # first one, energy, power)]
        al = getattr(core, 'tx_al', None)
        if al is None:
            al = core.tx_al = [b, array('i')]
        a = al[1]
        if len(a) < 3 * _STOP_ALIGNED:
            a.append(b - al[0])
            a.append(e)
            a.append(p)


def stop_aligned(al, measurands, meter_start):
    # StopTransaction's Sample.Clock meterValues from core.tx_al: ',{...},{...}' ('' without)
    if not al or not measurands:
        return ''
    t0, al = al
    s = ''
    prev = meter_start
    for i in range(0, len(al), 3):
        e = al[i + 1]
        s += ',' + msg.meter_value(msg.iso(t0 + al[i]), sampled('Sample.Clock', e, al[i + 2], measurands,
                                                                  e - prev))
        prev = e
    return s
