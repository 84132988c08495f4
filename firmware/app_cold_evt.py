# The rare paths of app_cold.Cold, loaded for each call (lazy.py): what to report when the
# interlock, the alarms or the meter's health change (evaluate), the periodic temperature / heater
# reports (report) and saving what the controller learned (save_learned). Vendor codes and their
# OCPP fields: docs/interfaces.md §1.6.
import json
from micropython import const

import lazy
import ocpp16_msg as msg
from log import log

_ARRIVALS = 'arrivals.bin'
_LEARNED = 'learned.bin'  # thermal_state
_CLOCK_SET = const('2020')  # a station clock before 2020 was never set (as board/esp32.py)
_AMB_CC = const(10000)  # an ambient reading beyond +-100 C is a broken sensor, not the weather
_INFO_MAX = const(50)  # StatusNotification.info (CiString50)


def evaluate(cold):
    # the condition to report, by precedence FG_METER > FG_OVERTEMP > FG_SENSOR > FG_HEATER >
    # FG_COLD; applied to the connector as a fault (Faulted) or a hold (FG_COLD)
    code = err = info = other = None
    m = cold.mtr
    if cold.ctl is not None:
        code, err, info, other = _thermal(cold)
    if m is not None and m.dead:
        code, err, info = 'FG_METER', 'PowerMeterFailure', 'meter %s' % m.reason
    c = cold.conn
    if code == 'FG_COLD':
        if code == cold.code and info != c.hold_info and cold.core is not None:
            cold.core.last_status = None  # still held, a new estimate (a plug-in): report it
        c.hold, c.hold_info = code, info
    else:
        c.hold = c.hold_info = None
    if err is not None:
        c.set_fault(err, info, code)
        cold.faulted = True
    elif cold.faulted:
        c.clear_fault()
        cold.faulted = False
    if code != cold.code:
        cold.code = code
        log('INFO', 'COLD_STATUS %s %s' % (code, info))
        if cold.core is not None:
            cold.core.last_status = None  # the next OCPP step reports the new code
    o_code = other[0] if other else None
    if o_code != cold.code0:
        cold.code0 = o_code
        _notice0(cold, other)


def _thermal(cold):
    # (code, errorCode or None, info, (code, errorCode, info) for connector 0 or None)
    ctl = cold.ctl
    best = other = None
    rank = 9
    for a in ctl.alarms():
        i = a.find(':')
        kind, zone = a[:i], a[i + 1:]
        r = 0 if kind == 'OverTemp' else (2 if kind == 'HeaterFault' else 1)
        if zone not in cold.charge_zones:
            if other is None or r < other[2]:
                other = (kind, zone, r)
        elif r < rank:
            rank, best = r, (kind, zone)
    if other is not None:
        other = _coded(cold, other[0], other[1], other[2])
    if best is not None:
        return _coded(cold, best[0], best[1], rank) + (other,)
    r = ctl.reason()
    if r is None:
        return None, None, None, other
    if r.startswith('ColdInterlock:'):
        i = r.find(' ')
        info = 'cold zone=%s t=%s' % (r[14:i], r[i + 1:].rstrip('C'))
        n = lazy.call('app_cold_eta', 'eta_min', ctl)
        if n is not None:
            e = ' eta=%dmin' % (n if n > 0 else 1)
            if len(info) + len(e) <= _INFO_MAX:
                info += e
        return 'FG_COLD', None, info, other
    # held for a fault whose alarm has cleared (a sensor recovering): still a sensor matter
    return 'FG_SENSOR', 'OtherError', r.replace(':', ' zone='), other


def _coded(cold, kind, zone, rank):
    if rank == 0:
        t = cold.ctl.temp_cc[cold.names.index(zone)]
        return 'FG_OVERTEMP', 'HighTemperature', 'OverTemp zone=%s t=%.1f' % (zone, t / 100)
    if rank == 2:
        return 'FG_HEATER', 'OtherError', 'HeaterFault zone=%s' % zone
    return 'FG_SENSOR', 'OtherError', '%s zone=%s' % (kind, zone)


def _notice0(cold, other):
    # a fault of a zone that does not guard charging: reported on connector 0 (the charge point)
    # with status Available, since charging goes on
    core = cold.core
    if core is None or not core.accepted():
        return
    s = '{"connectorId":0,"status":"Available","timestamp":"%s",' % core.ts()
    if other is None:
        s += '"errorCode":"NoError"}'
    else:
        s += ('"errorCode":"%s","info":%s,"vendorId":"Frostgrid","vendorErrorCode":"%s"}'
              % (other[1], msg.q(other[2][:50]), other[0]))
    core.enqueue('StatusNotification', s)


def report(cold):
    # MeterValues (connector 1, no transaction): Temperature per location, and the meter's other
    # quantities; DataTransfer Frostgrid/Heater: duty, energy and temperature of every zone, the
    # time of the reading (ts, while the station's clock is known) and the ambient air (amb_c,
    # with a thermal ambient_sensor; null while it reads open, short or beyond +-100 C)
    core = cold.core
    if core is None or not core.accepted():
        return
    ts = core.ts()
    sv = []
    ctl = cold.ctl
    if ctl is not None:
        for i in range(ctl.n):
            if cold.loc[i] is not None and ctl.temp_cc[i] > -30000:
                sv.append('{"value":"%.1f","context":"Sample.Periodic","measurand":"Temperature",'
                          '"location":"%s","unit":"Celsius"}' % (ctl.temp_cc[i] / 100, cold.loc[i]))
    m = cold.mtr
    if m is not None and m.energy_import_wh is not None:
        # OCPP 1.6 has no unit for Frequency: it is left out
        f = '{"value":"%s","context":"Sample.Periodic","measurand":"%s"%s}'
        for i in range(len(m.voltage_v)):
            sv.append(f % ('%.1f' % m.voltage_v[i], 'Voltage', ',"unit":"V","phase":"L%d-N"' % (i + 1)))
            sv.append(f % ('%.2f' % m.current_a[i], 'Current.Import', ',"unit":"A","phase":"L%d"' % (i + 1)))
        sv.append(f % ('%.2f' % m.frequency_hz, 'Frequency', ''))
        sv.append(f % ('%d' % max(-m.power_w, 0), 'Power.Active.Export', ',"unit":"W"'))
        sv.append(f % ('%d' % m.energy_export_wh, 'Energy.Active.Export.Register', ',"unit":"Wh"'))
    if sv:
        core.enqueue('MeterValues', '{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":[%s]}]}'
                     % (ts, ','.join(sv)))
    if ctl is not None:
        zones = []
        wh = ctl.energy_wh()
        for i in range(ctl.n):
            t = ctl.temp_cc[i]
            zones.append({'name': cold.names[i], 'duty_pm': ctl.duty[i], 'energy_wh': round(wh[i], 1),
                          't_c': t / 100 if t > -30000 else None})
        d = {'zones': zones, 'alarms': ctl.alarms()}
        if ts >= _CLOCK_SET:
            d['ts'] = ts
        if cold.amb >= 0:
            d['amb_c'] = ambient_c(cold)
        data = json.dumps(d)
        core.enqueue('DataTransfer',
                     '{"vendorId":"Frostgrid","messageId":"Heater","data":%s}' % json.dumps(data))


def ambient_c(cold):
    # the ambient thermistor's reading in C, one decimal (the zones' Ntc code), or None. The range
    # check also refuses ntc's OPEN/SHORT codes (<= -300 C): no `import ntc` here, which would load
    # the module again for each report (lazy.call dropped it from sys.modules after the boot).
    ch = cold.ctl.sensors[cold.amb]
    v = ch.conv.read_cc(cold.board.adc_counts()[ch.idx])
    if not -_AMB_CC <= v <= _AMB_CC:
        return None
    return (v + 5) // 10 / 10 if v >= 0 else -((5 - v) // 10) / 10


def save_learned(cold):
    # the learned arrival pattern and the thermal model (thermal_state) to flash, each an atomic
    # replace (fsutil: tmp file, sync, rename): a power cut leaves the old file or the new one
    import fsutil
    import thermal_state  # (dropped with this module)
    ctl = cold.ctl
    for path, data in ((_ARRIVALS, ctl.arrivals.to_bytes()), (_LEARNED, thermal_state.pack(ctl))):
        try:
            f = open(path + '.tmp', 'wb')
            try:
                f.write(data)
            except Exception:
                fsutil.abort(f, path)
                raise
            fsutil.commit(f, path)
        except Exception as e:  # a lost hour of learning, nothing worse
            log('WARN', 'LEARNED %s %r' % (path, e))
            return
    log('INFO', 'LEARNED saved')
