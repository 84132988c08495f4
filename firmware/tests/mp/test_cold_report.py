# The heater report (DataTransfer Frostgrid/Heater, app_cold_evt.report) carries the time of the
# reading on the station's clock (ts, left out while the clock is unknown) and the ambient air
# temperature from the optional ambient thermistor (amb_c: one decimal, null while it is broken).
import json

import ntc
from cold_board import Board
import app_cold_evt
import app_cold_make
from connector import Connector

_CONV = ntc.Ntc({'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000})


class Core:
    def __init__(self, ts):
        self.t = ts
        self.queue = []
        self.last_status = None

    def accepted(self):
        return True

    def ts(self):
        return self.t

    def enqueue(self, action, payload, trig=False):
        self.queue.append((action, payload))


class App:
    def __init__(self):
        self.board = Board([_CONV.counts_at(-12), 0, _CONV.counts_at(-31.26)])  # zone, -, ambient
        self.conn = Connector(1)
        self.cold = False


def _report(ts='2026-01-20T06:00:00Z', ambient=1):
    s = {'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000, 'channel': 0}
    a = dict(s)
    a['channel'] = 2
    th = {'sensors': [s, a], 'zones': [{'name': 'electronics', 'sensor': 0, 'heater_w': 60, 'min_c': -20}]}
    if ambient is not None:
        th['ambient_sensor'] = ambient
    app = App()
    cold = app_cold_make.build(app, {'thermal': th})
    cold.core = Core(ts)
    app.board.t_ms = 1000
    cold.step(0)
    cold.core.queue[:] = []
    app_cold_evt.report(cold)
    return app, cold, _heater(cold)


def _heater(cold):
    dt = [json.loads(p) for a, p in cold.core.queue if a == 'DataTransfer']
    assert len(dt) == 1 and dt[0]['messageId'] == 'Heater'
    return json.loads(dt[0]['data'])


def test_heater_report_carries_the_reading_time_and_the_ambient_temperature():
    app, cold, data = _report()
    assert data['ts'] == '2026-01-20T06:00:00Z'
    v = _CONV.read_cc(app.board.adc[2])  # the zones' conversion of the ambient channel, centi-C
    assert data['amb_c'] == -((5 - v) // 10) / 10 and abs(data['amb_c'] + 31.26) < 0.1, (v, data)
    assert data['zones'][0]['name'] == 'electronics' and abs(data['zones'][0]['t_c'] + 12) < 0.1


def test_heater_report_leaves_the_time_out_while_the_station_clock_is_unknown():
    app, cold, data = _report(ts='2000-01-01T00:00:07Z')
    assert 'ts' not in data and abs(data['amb_c'] + 31.26) < 0.1


def test_a_broken_ambient_thermistor_reports_null_and_none_configured_reports_nothing():
    app, cold, data = _report()
    for counts in (4095, 0):  # open, short (pull-up divider)
        app.board.adc[2] = counts
        cold.core.queue[:] = []
        app_cold_evt.report(cold)
        data = _heater(cold)
        assert 'amb_c' in data and data['amb_c'] is None, data
    app.board.adc[2] = _CONV.counts_at(0.04)
    cold.core.queue[:] = []
    app_cold_evt.report(cold)
    assert _heater(cold)['amb_c'] == 0.0
    app = cold = data = None  # one station at a time: the next is built within the test heap
    app, cold, data = _report(ambient=None)
    assert 'amb_c' not in data
    app = cold = data = None
    app, cold, data = _report(ambient=5)  # not a sensor index: logged at boot, left out
    assert 'amb_c' not in data
