# Installer self-test, run on the board by `frostgrid device selftest` (installer/selftest.py):
# never imported by the firmware, loaded into a fresh interpreter (soft reset) for this one run.
# Reads station.json, builds the board from it and checks what an installer must prove on site:
#   sensor <zone>   the thermistor's counts give a plausible temperature (no open, no short)
#   heater <zone>   full duty raises the zone's temperature by rise_k more than the zone drifts
#                   by itself (its own electronics warm it too: measured first for base_s with
#                   the heater off), within heat_s (board's thermal clock) and wall_s (wall
#                   clock); heating stops early near the cut-off
#   meter           the Modbus meter answers two read cycles and its registers are sane
#   backend         the backend accepts a BootNotification on the station's own credentials
# Prints one line per check, `SELFTEST {"check":..,"ok":..,"value":..,"detail":..}`, and at the
# end `SELFTEST_END <failures>`. The verdict functions are pure (tested in tests/mp/test_selftest.py).
import asyncio
import json
from micropython import const
from time import ticks_diff, ticks_ms

_POLL_MS = const(200)
_NET_TIMEOUT_MS = const(15000)
T_MIN_C = -50  # plausible on site (colder than any design day, the sensor is suspect)
T_MAX_C = 70
U_MIN_V = 180  # phase-to-neutral voltage of a live 230 V supply
U_MAX_V = 265
F_MIN_HZ = 45
F_MAX_HZ = 65


def report(check, ok, value=None, detail=''):
    print('SELFTEST', json.dumps({'check': check, 'ok': bool(ok), 'value': value, 'detail': detail}))
    return bool(ok)


def sensor_verdict(conv, counts):
    # (ok, temp_c or None, detail) for one thermistor reading
    import ntc
    cc = conv.read_cc(counts)
    if cc == ntc.OPEN:
        return False, None, 'open circuit (counts %d)' % counts
    if cc == ntc.SHORT:
        return False, None, 'short circuit (counts %d)' % counts
    t = cc / 100
    if t < T_MIN_C or t > T_MAX_C:
        return False, t, 'implausible %.1f C (counts %d)' % (t, counts)
    return True, t, 'counts %d' % counts


def heater_verdict(t0_c, t1_c, rise_k, elapsed_s, drift_k=0.0):
    # (ok, detail) after heating: the zone must have warmed by rise_k beyond drift_k, what it
    # would have drifted by in the same time without the heater
    if t0_c is None or t1_c is None:
        return False, 'no temperature reading'
    rise = t1_c - t0_c - drift_k
    if rise >= rise_k:
        return True, '+%.1f K in %d s' % (rise, elapsed_s)
    return False, 'only %+.1f K in %d s (needs +%.1f K): heater or its wiring dead' % (
        rise, elapsed_s, rise_k)


def meter_verdict(snap, phases):
    # (ok, detail) from a meter snapshot (meter.Meter.snapshot()) after two read cycles
    if snap['dead'] or not snap['healthy']:
        return False, 'no valid reading (%s)' % (snap['reason'] or snap['status'])
    if snap['energy_import_wh'] is None or snap['energy_import_wh'] < 0:
        return False, 'import energy register invalid'
    for i in range(phases):
        u = snap['voltage_v'][i]
        if u == u and u != 0 and not (U_MIN_V <= u <= U_MAX_V):  # u == u: not NaN; 0: not fitted
            return False, 'L%d voltage %.0f V out of range' % (i + 1, u)
    f = snap['frequency_hz']
    if f and not (F_MIN_HZ <= f <= F_MAX_HZ):
        return False, 'frequency %.1f Hz out of range' % f
    return True, 'E=%d Wh P=%d W' % (snap['energy_import_wh'], snap['power_w'] or 0)


async def _read_zone(board, conv, ch):
    await board.poll()
    return sensor_verdict(conv, board.adc_counts()[ch])[1]


async def check_sensors(board, th):
    import ntc
    convs = [ntc.Ntc(s) for s in th['sensors']]
    await board.poll()
    counts = board.adc_counts()
    failed = 0
    for i, z in enumerate(th['zones']):
        s = th['sensors'][z.get('sensor', i)]
        ok, t, detail = sensor_verdict(convs[z.get('sensor', i)], counts[s.get('channel', i)])
        failed += not report('sensor ' + z['name'], ok, None if t is None else round(t, 1), detail)
    return convs, failed


async def _drift(board, conv, ch, base_s, wall_ms):
    # K per thermal second the zone drifts by itself with its heater off (None: no reading)
    ta = await _read_zone(board, conv, ch)
    h0 = board.thermal_ms()
    w0 = ticks_ms()
    tb = ta
    el = 0
    while ta is not None and tb is not None and el < base_s * 1000 and ticks_diff(ticks_ms(), w0) < wall_ms:
        await asyncio.sleep_ms(_POLL_MS)
        tb = await _read_zone(board, conv, ch)
        el = ticks_diff(board.thermal_ms(), h0)
    if ta is None or tb is None:
        return None
    return (tb - ta) * 1000 / el if el > 0 else 0.0


async def check_heaters(board, th, convs, rise_k, heat_s, wall_s, base_s):
    failed = 0
    for i, z in enumerate(th['zones']):
        si = z.get('sensor', i)
        ch = th['sensors'][si].get('channel', si)
        hch = z.get('heater', i)
        stop_c = z.get('cutoff_c', 60) - 5  # never near the cut-off, whatever the test wants
        rate = await _drift(board, convs[si], ch, base_s, wall_s * 250)
        t0 = await _read_zone(board, convs[si], ch)
        t1 = t0
        w0 = ticks_ms()
        h0 = board.thermal_ms()
        elapsed = 0
        drift = 0.0
        if t0 is not None and rate is not None:
            board.set_heater(hch, 1000)
            try:
                while True:
                    await asyncio.sleep_ms(_POLL_MS)
                    t1 = await _read_zone(board, convs[si], ch)
                    elapsed = ticks_diff(board.thermal_ms(), h0) / 1000
                    drift = rate * elapsed
                    if t1 is None or t1 - t0 - drift >= rise_k or t1 >= stop_c:
                        break
                    if elapsed >= heat_s or ticks_diff(ticks_ms(), w0) >= wall_s * 1000:
                        break
            finally:
                board.set_heater(hch, 0)
                await board.poll()  # the off command goes out now
        ok, detail = heater_verdict(t0, t1, rise_k, elapsed, drift)
        rise = None if t0 is None or t1 is None else round(t1 - t0 - drift, 1)
        failed += not report('heater ' + z['name'], ok, rise, detail)
    return failed


async def check_meter(board, mt):
    import meter
    import meter_models
    import modbus
    model = mt.get('model', 'DTSU666')
    idx = meter_models.model_index(model) if type(model) is str else model
    baud = mt.get('baud', 9600)
    uart, de = board.rs485(baud)
    bus = modbus.Bus(uart, baud, mt.get('timeout_ms', 200), mt.get('retries', 2), de=de)
    m = meter.Meter(idx, mt.get('address', 1), mt.get('invert', False), mt.get('max_power_w', 50000),
                    dead_after=1)
    good = 0
    for _ in range(2):  # two cycles: the second one checks the registers against the first
        if await m.read(bus):
            good += 1
        await asyncio.sleep_ms(_POLL_MS)
    snap = m.snapshot()
    ok, detail = meter_verdict(snap, m.phases) if good == 2 else (False, 'no answer at address %d (%s)' % (
        mt.get('address', 1), snap['reason'] or 'timeout'))
    return report('meter', ok, snap['energy_import_wh'] if ok else None, detail)


async def check_backend(st):
    import rpc
    from ws import WsClient
    ws = WsClient(st['url'] + '/' + st['id'], st['id'], st['password'], 'ocpp1.6', st.get('max_frame', 8192))
    try:
        await asyncio.wait_for_ms(ws.connect(), _NET_TIMEOUT_MS)
        await ws.send_text(rpc.encode_call('selftest-boot', 'BootNotification', {
            'chargePointVendor': st.get('vendor', 'Frostgrid'), 'chargePointModel': st.get('model', 'AC7'),
            'chargePointSerialNumber': st.get('serial', st['id'])}))
        w0 = ticks_ms()
        while ticks_diff(ticks_ms(), w0) < _NET_TIMEOUT_MS:
            text = await asyncio.wait_for_ms(ws.recv_text(), _NET_TIMEOUT_MS)
            if text is None:
                return report('backend', False, None, 'the backend closed the link')
            kind, uid, a, b = rpc.parse(text)
            if uid != 'selftest-boot':
                continue  # a CALL of the backend's: not what is checked here
            if kind == rpc.CALLRESULT:
                status = a.get('status')
                return report('backend', status == 'Accepted', status, 'BootNotification %s' % status)
            return report('backend', False, None, 'CALLERROR %s' % a)
        return report('backend', False, None, 'no answer to BootNotification')
    except Exception as e:
        return report('backend', False, None, 'cannot connect to %s: %s' % (st['url'], e))
    finally:
        try:
            await asyncio.wait_for_ms(ws.close(), 3000)
        except Exception:
            pass


async def _run(st, rise_k, heat_s, wall_s, base_s, skip):
    from board import make_board
    from config import Config
    board = make_board(st, Config('config.json'))
    await board.start()
    failed = 0
    th = st.get('thermal')
    if th and 'sensors' not in skip:
        convs, n = await check_sensors(board, th)
        failed += n
        if 'heaters' not in skip:
            failed += await check_heaters(board, th, convs, rise_k, heat_s, wall_s, base_s)
    if st.get('meter') and 'meter' not in skip:
        failed += not await check_meter(board, st['meter'])
    if 'backend' not in skip:
        failed += not await check_backend(st)
    print('SELFTEST_END', failed)
    return failed


def main(rise_k=1.0, heat_s=600, wall_s=120, skip=(), base_s=120):
    with open('station.json') as f:
        st = json.load(f)
    return asyncio.run(_run(st, rise_k, heat_s, wall_s, base_s, skip))
