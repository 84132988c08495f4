# Cold-region wiring (app_cold.Cold) between a stand-in board, a real Connector and a stand-in OCPP
# core: interlock -> connector hold (FG_COLD), faults -> Faulted with Frostgrid's vendor codes,
# heaters follow the controller, a dead meter ends the session with reason Other.
import json

import ocpp16_msg as msg
import app_cold_evt
import app_cold_make
from cold_rig import App, Core, _rig, _steps


def test_cold_boot_holds_charging_with_fg_cold_and_heats_until_warm():
    app, cold = _rig()
    c = app.conn
    _steps(app, cold, (-42, -42), (-42, -42), 1)
    assert c.hold == 'FG_COLD' and c.fault is None and app.cold is True
    assert c.hold_info.startswith('cold zone=electronics t=-42'), c.hold_info
    assert c.status() == 'Unavailable' and c.error_code() == 'NoError'
    assert app.board.heat[2] == 1000, 'the guarding zone heats up at full duty on heater channel 2'
    c.step('C', 0)
    c.authorize(0)
    assert c.status() == 'Preparing' and not c.may_start(), 'an EV waits while the interlock holds'
    p = json.loads(msg.status(c, '2026-01-20T06:00:00Z'))
    assert p['vendorId'] == 'Frostgrid' and p['vendorErrorCode'] == 'FG_COLD' and p['errorCode'] == 'NoError'
    assert cold.core.last_status is None, 'a new vendor code forces a StatusNotification'
    # warm up at 2 K/min (a plausible rate): released once min + hysteresis is reached
    _steps(app, cold, (-42, -42), (-16, -16), 13)
    assert c.hold is None and c.hold_info is None and app.cold is False
    assert c.may_start()
    assert cold.code is None


def test_a_plug_in_while_held_reports_the_wait_the_learned_model_expects():
    app, cold = _rig()
    c = app.conn
    _steps(app, cold, (-42, -42), (-42, -42), 1)
    assert c.hold == 'FG_COLD' and 'eta=' not in c.hold_info, 'no estimate before the heater is known'
    # a learned model (zonemodel units: cc per 15 min window): 3 K a window at full duty, no loss
    m = cold.ctl.zones[0].model
    m.nb, m.b, m.l0, m.a = 1, 300, 0, 0
    cold.core.last_status = 'Unavailable'
    c.step('C', 0)  # an EV plugs in while the interlock holds
    _steps(app, cold, (-42, -42), (-42, -42), 1)
    info = c.hold_info
    assert info.startswith('cold zone=electronics t=-42') and info.endswith('min'), info
    eta = int(info[info.find('eta=') + 4:-3])
    assert 118 <= eta <= 121, info  # -42 C to the release at -18 C: 24 K at 0.2 K/min
    assert len(info) <= 50
    assert cold.core.last_status is None, 'the new estimate is reported at once'
    p = json.loads(msg.status(c, '2026-01-20T06:00:00Z'))
    assert p['status'] == 'Preparing' and p['info'] == info and p['vendorErrorCode'] == 'FG_COLD'


def test_open_thermistor_on_a_guarding_zone_is_a_faulted_fg_sensor_and_fail_safe():
    app, cold = _rig()
    _steps(app, cold, (-42, -10), (-10, -10), 20)
    c = app.conn
    assert c.hold is None
    app.board.adc[0] = 4095  # pull-up divider, thermistor wire broken
    app.board.t_ms += 1000
    cold.step(0)
    assert c.fault == 'OtherError' and c.vendor_error == 'FG_SENSOR', (c.fault, c.vendor_error)
    assert c.fault_info == 'SensorOpen zone=electronics' and c.status() == 'Faulted'
    assert 0 < app.board.heat[2] < 1000, 'fail-safe duty, neither off nor full'
    assert not c.want_contactor()


def test_fault_on_a_display_zone_goes_to_connector_0_and_charging_goes_on():
    app, cold = _rig()
    _steps(app, cold, (-42, -10), (-10, -10), 20)
    cold.core.queue[:] = []
    app.board.adc[1] = 0  # display thermistor shorted
    app.board.t_ms += 1000
    cold.step(0)
    c = app.conn
    assert c.fault is None and c.hold is None
    notes = [json.loads(p) for a, p in cold.core.queue if a == 'StatusNotification']
    assert len(notes) == 1 and notes[0]['connectorId'] == 0 and notes[0]['status'] == 'Available'
    assert notes[0]['vendorErrorCode'] == 'FG_SENSOR' and notes[0]['info'] == 'SensorShort zone=display'


def test_over_temperature_cuts_the_heater_and_reports_high_temperature():
    app, cold = _rig()
    _steps(app, cold, (-42, -10), (-10, -10), 20)
    _steps(app, cold, (-10, -10), (62, -10), 20)  # 3.6 K/min: a hot spot, not a broken sensor
    c = app.conn
    assert c.fault == 'HighTemperature' and c.vendor_error == 'FG_OVERTEMP', (c.fault, c.vendor_error)
    assert c.fault_info.startswith('OverTemp zone=electronics t=6'), c.fault_info
    assert app.board.heat[2] == 0


class DeadMeter:
    dead = True
    reason = 'timeout'
    energy_import_wh = 5000
    power_w = 0


def test_dead_meter_ends_the_session_with_reason_other_and_refuses_new_ones():
    app, cold = _rig({})
    cold.mtr = DeadMeter()
    c = app.conn
    c.step('C', 0)
    c.authorize(0)
    c.begin_tx()
    cold.core.tx_ltx = 7
    cold.step(0)
    assert cold.core.stops == ['Other']
    assert c.fault == 'PowerMeterFailure' and c.vendor_error == 'FG_METER' and c.fault_info == 'meter timeout'
    assert not c.may_start() and not c.want_contactor()
    assert cold.reading() == (5000, 0), 'billing keeps the last good register'
    cold.mtr.dead = False
    cold.step(200)
    assert c.fault is None and c.vendor_error is None, 'the meter answering again clears the fault'


def test_reports_carry_zone_temperatures_and_the_heater_data_transfer():
    app, cold = _rig()
    _steps(app, cold, (-42, -10), (-12, -11), 20)
    cold.core.queue[:] = []
    app_cold_evt.report(cold)
    kinds = [a for a, _ in cold.core.queue]
    assert kinds == ['MeterValues', 'DataTransfer'], kinds
    mv = json.loads(cold.core.queue[0][1])
    sv = mv['meterValue'][0]['sampledValue']
    # one series per location: the display shares Body with the electronics and is left out
    assert [(s['measurand'], s['location'], s['unit'], s['value']) for s in sv] == \
        [('Temperature', 'Body', 'Celsius', '-12.0')], sv
    dt = json.loads(cold.core.queue[1][1])
    assert dt['vendorId'] == 'Frostgrid' and dt['messageId'] == 'Heater'
    data = json.loads(dt['data'])
    assert [z['name'] for z in data['zones']] == ['electronics', 'display']
    assert abs(data['zones'][0]['t_c'] + 12.0) < 0.1 and data['zones'][0]['energy_wh'] > 0


def test_ev_that_trips_is_held_off_by_a_growing_back_off_not_a_cycling_contactor():
    app = App()
    cold = app_cold_make.build(app, {'restart': {'base_s': 30, 'max_s': 120, 'tries': 3}})
    cold.core = Core()
    c = app.conn
    b = app.board
    c.step('C', 0)
    c.authorize(0)
    c.begin_tx()
    now = 1000

    def at(t, cp):
        c.step(cp, t)
        cold.step(t)
        b.closed = c.want_contactor()  # what app._control commands after the step

    at(now, 'C')
    assert b.closed, 'charging'
    waits = []
    for _ in range(3):
        at(now, 'F')  # the EV trips
        assert not b.closed
        t0 = now
        now += 500
        at(now, 'C')  # the EV is ready again at once
        while not b.closed and now - t0 < 400000:
            assert c.status() in ('SuspendedEVSE', 'Faulted'), c.status()
            now += 1000
            at(now, 'C')
        waits.append(now - t0)
        now += 5000
        at(now, 'C')
    # 30 s, 60 s, then it gives up: the third trip never closes again until the EV leaves
    assert 30000 <= waits[0] <= 31500 and 60000 <= waits[1] <= 61500, waits
    assert waits[2] >= 400000 and not b.closed
    at(now, 'A')
    assert c.limit_w is None, 'unplugging resets the back-off'

