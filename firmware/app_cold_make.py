# Building app_cold.Cold from station.json (docs/interfaces.md §1.1), at boot only: loaded for the
# call by app_boot (lazy.py). The controller, meter and bus modules it imports stay in RAM through
# the objects made from them.
import asyncio
from micropython import const
from time import ticks_add, ticks_ms

from app_cold import Cold
from log import log

_FIRST_READS = const(4)  # meter cycles tried at boot before the journal is recovered


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def build(app, st):
    cold = Cold(app)
    b = app.board
    now = ticks_ms()
    from restart import RestartGuard
    rs = st.get('restart') or {}
    cold.guard = RestartGuard(int(rs.get('base_s', 30) * 1000), int(rs.get('max_s', 960) * 1000),
                              rs.get('tries', 6), int(rs.get('quiet_s', 900) * 1000),
                              int(rs.get('ramp_s', 120) * 1000), rs.get('start_pct', 25))
    th = st.get('thermal')
    if th:
        import thermal
        import arrivals
        import fsutil
        for f in ('arrivals.bin', 'learned.bin'):
            fsutil.recover(f)  # a save cut inside a non-atomic rename (FAT); both files carry a sum
        cold.ctl = thermal.Thermal(th, arrivals.Arrivals.from_bytes(_read('arrivals.bin')))
        import thermal_state  # (dropped with this module)
        r = thermal_state.restore(cold.ctl, _read('learned.bin'))
        log('INFO' if r in ('ok', 'none') else 'WARN', 'THERMAL_LEARNED %s' % r)
        zs = th['zones']
        cold.names = [z['name'] for z in zs]
        cold.heater_ch = bytes([z.get('heater', i) for i, z in enumerate(zs)])
        # Temperature measurands: the first zone of each location (all zones are in the heater
        # report), so that a location has one series in the backend
        cold.loc = []
        seen = []
        for z in zs:
            loc = z.get('location', 'Body')
            cold.loc.append(None if loc in seen else loc)
            seen.append(loc)
        cold.charge_zones = [z['name'] for z in zs if z.get('guards', 'contactor') in ('contactor', 'power')]
        cold.report_ms = int(th.get('report_s', 60) * 1000)
        a = th.get('ambient_sensor')
        if a is not None:
            if type(a) is int and 0 <= a < len(th['sensors']):
                cold.amb = a
            else:  # reported as unknown (null) rather than refusing to boot
                log('WARN', 'THERMAL ambient_sensor %r is not a sensor index' % (a,))
        # the global standby floor and the zones that follow it (no floor_c of their own): the
        # OCPP key FrostgridStandbyFloorC moves them (app_cold_keys.py)
        mask = 0
        for i, z in enumerate(zs):
            if 'floor_c' not in z:
                mask |= 1 << i
        cold.floor = [int(round(float(th.get('floor_c', -38)) * 100)), mask]
        for i in range(len(zs)):
            b.set_heater(cold.heater_ch[i], 0)
    cold.report_at = ticks_add(now, cold.report_ms)
    cold.save_at = ticks_add(now, 3600000)
    mt = st.get('meter')
    if mt:
        import meter
        import meter_models
        import modbus
        model = mt.get('model', 'DTSU666')
        if type(model) is str:
            model = meter_models.model_index(model)
        baud = mt.get('baud', 9600)
        uart, de = b.rs485(baud)
        cold.bus = modbus.Bus(uart, baud, mt.get('timeout_ms', 200), mt.get('retries', 2), de=de)
        cold.mtr = meter.Meter(model, mt.get('address', 1), mt.get('invert', False),
                               mt.get('max_power_w', 50000), dead_after=mt.get('dead_after', 3))
        cold.interval_ms = mt.get('interval_ms', 1000)
    return cold


async def start(cold):
    # before the journal is recovered: a transaction cut by a power loss is billed up to the
    # meter's register, so take a first reading (or find the meter dead) now
    m = cold.mtr
    if m is None:
        return
    for _ in range(_FIRST_READS):
        try:
            if await m.read(cold.bus):
                break
        except Exception as e:
            log('ERROR', 'METER %r' % e)
        if m.dead:
            break
    log('INFO', 'METER %s e=%s' % (m.status(), m.energy_import_wh))
    asyncio.create_task(cold.run_meter())
