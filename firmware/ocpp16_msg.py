# OCPP 1.6 payload text and ISO 8601 time, for ocpp16 and ocpp16_calls. Pure functions.
# Payloads are built as JSON text (not dicts) so that journal records can hold them as sent.
import json
from micropython import const

_E_REG = const('Energy.Active.Import.Register')
_E_INT = const('Energy.Active.Import.Interval')
_P_IMP = const('Power.Active.Import')


def iso(t):
    # Unix seconds -> '2026-01-20T06:00:00Z' (proleptic Gregorian; independent of the port's epoch)
    days, s = divmod(int(t), 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return '%04d-%02d-%02dT%02d:%02d:%02dZ' % (yoe + era * 400 + (m <= 2), m, doy - (153 * mp + 2) // 5 + 1,
                                               s // 3600, s % 3600 // 60, s % 60)


def q(s):
    # a JSON string literal
    return json.dumps(s)


def sampled(ctx, energy_wh, power_w, measurands, delta_wh=0, pw=None):
    # sampledValue array, measurands in the configured order; transaction begin/end values carry
    # energy only (no power reading is kept for them). Discharge (power_w < 0) is reported as
    # export; `pw` (power.Power) holds the export register and the EV's SoC
    out = '['
    now = not ctx.startswith('Transaction')
    for m in (measurands or _E_REG).split(','):
        m = m.strip()
        if m == _E_REG:
            v, u = energy_wh, 'Wh'
        elif m == _E_INT:
            v, u = delta_wh, 'Wh'
        elif m == _P_IMP and now:
            v, u = power_w if power_w > 0 else 0, 'W'
        elif m == 'Power.Active.Export' and now:
            v, u = -power_w if power_w < 0 else 0, 'W'
        elif m == 'Energy.Active.Export.Register' and pw is not None:
            v, u = pw.export_wh, 'Wh'
        elif m == 'SoC' and now and pw is not None and pw.soc_pct >= 0:
            v, u = pw.soc_pct, 'Percent'
        else:
            continue
        if len(out) > 1:
            out += ','
        out += '{"value":"%d","context":"%s","measurand":"%s","unit":"%s"}' % (v, ctx, m, u)
    if len(out) == 1:
        return sampled(ctx, energy_wh, power_w, _E_REG)
    return out + ']'


def meter_value(ts, sv):
    return '{"timestamp":"%s","sampledValue":%s}' % (ts, sv)


def meter_values(cid, txid, ts, sv):
    # MeterValues payload; `txid` None leaves transactionId out
    return ('{"connectorId":%d%s,"meterValue":[%s]}'
            % (cid, '' if txid is None else ',"transactionId":%d' % txid, meter_value(ts, sv)))


def status(conn, ts):
    s = ('{"connectorId":%d,"errorCode":"%s","status":"%s","timestamp":"%s"'
         % (conn.connector_id, conn.error_code(), conn.status(), ts))
    info = conn.fault_info or conn.hold_info
    if info:
        s += ',"info":' + q(info[:50])
    ven = conn.vendor_error or conn.hold
    if ven:  # Frostgrid's codes (docs/interfaces.md §1.6)
        s += ',"vendorId":"Frostgrid","vendorErrorCode":' + q(ven[:50])
    return s + '}'
