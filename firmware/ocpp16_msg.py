# OCPP 1.6 payload text and ISO 8601 time, for ocpp16 and ocpp16_calls. Pure functions. (The
# sampledValue arrays of meter values are built by ocpp16_mv, loaded for each sample.)
# Payloads are built as JSON text (not dicts) so that journal records can hold them as sent.
import json


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
