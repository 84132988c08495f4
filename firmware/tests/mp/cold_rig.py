# A cold station's wiring (app_cold.Cold, built by app_cold_make) on a stand-in board with a real
# Connector and a stand-in OCPP core, for test_app_cold and test_app_cold_learned: two thermal zones
# (electronics guarding the contactor, display), 10 kOhm NTCs.
from array import array

import ntc
import app_cold_make
from connector import Connector

NTC = {'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000, 'topology': 'pullup',
       'adc_bits': 12, 'vref_mv': 3300, 'vsupply_mv': 3300}
_CONV = ntc.Ntc(NTC)


def _thermal():
    s0 = dict(NTC)
    s0['channel'] = 0
    s1 = dict(NTC)
    s1['channel'] = 1
    return {'sensors': [s0, s1],
            'zones': [{'name': 'electronics', 'sensor': 0, 'heater': 2, 'location': 'Body', 'heater_w': 60,
                       'output': 'pwm', 'min_c': -20, 'hyst_k': 2, 'cutoff_c': 60, 'guards': 'contactor'},
                      {'name': 'display', 'sensor': 1, 'heater': 3, 'location': 'Body', 'heater_w': 5,
                       'output': 'pwm', 'min_c': -20, 'hyst_k': 2, 'cutoff_c': 60, 'guards': 'display'}],
            'report_s': 60}


class Board:
    linked = True

    def __init__(self):
        self.adc = array('H', [0] * 4)
        self.heat = [0] * 4
        self.t_ms = 0
        self.closed = False  # the contactor as app._control commanded it

    def contactor(self):
        return self.closed

    def adc_counts(self):
        return self.adc

    def set_heater(self, ch, duty_pm):
        self.heat[ch] = duty_pm

    def thermal_ms(self):
        return self.t_ms

    def tod_s(self):
        return -1

    def meter(self):
        return 111, 0

    def temps(self, *temps_c):
        for i, t in enumerate(temps_c):
            self.adc[i] = _CONV.counts_at(t)


class Core:
    def __init__(self):
        self.tx_ltx = 0
        self.stops = []
        self.queue = []
        self.last_status = 'x'

    def tx(self, fn, *args):
        assert fn == 'stop'
        self.stops.append(args[0])
        self.tx_ltx = 0

    def accepted(self):
        return True

    def ts(self):
        return '2026-01-20T06:00:00Z'

    def enqueue(self, action, payload, trig=False):
        self.queue.append((action, payload))


class App:
    def __init__(self):
        self.board = Board()
        self.conn = Connector(1)
        self.cold = None


def _rig(station=None):
    app = App()
    cold = app_cold_make.build(app, station if station is not None else {'thermal': _thermal()})
    cold.core = Core()
    return app, cold


def _steps(app, cold, temps_from, temps_to, n, dt_ms=60000):
    # n control steps of dt_ms thermal time, the zones moving linearly between two readings
    b = app.board
    for k in range(1, n + 1):
        b.temps(*[a + (z - a) * k / n for a, z in zip(temps_from, temps_to)])
        b.t_ms += dt_ms
        app.conn.step(app.conn.cp, k)
        cold.step(k * 200)
