# A cold station's wiring (app_cold.Cold with two zones) on stand-ins for the board and the OCPP
# core, with the real Config, for the tests of its OCPP configuration keys (test_cold_keys*.py).
# The keys are used through Config as the backend's Get/ChangeConfiguration handlers
# (ocpp16_conf.py) use them; the handlers' own argument checks are left out: with them these tests
# do not fit the 100 kB test heap (hil_tests/test_cold_start.py goes through the whole OCPP path).
import gc
import json
import os

import ntc
from cold_board import Board
import app_cold_make
from config import Config
from connector import Connector

_CONV = ntc.Ntc({'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000})


class Core:
    # what the cold wiring uses of ocpp16.Ocpp16
    tx_ltx = 0

    def __init__(self, wipe=True):
        if wipe:
            for f in ('config.json', 'config.json.tmp'):
                try:
                    os.remove(f)
                except OSError:
                    pass
        self.cfg = Config('config.json')
        self.last_status = None

    def accepted(self):
        return False


class App:
    def __init__(self):
        self.board = Board([0] * 2)
        self.conn = Connector(1)
        self.cold = False


def thermal():
    s0 = {'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000, 'channel': 0}
    s1 = dict(s0)
    s1['channel'] = 1
    return {'sensors': [s0, s1], 'floor_c': -38,
            'zones': [{'name': 'electronics', 'sensor': 0, 'heater_w': 60, 'min_c': -20, 'hyst_k': 2,
                       'cutoff_c': 60, 'guards': 'contactor'},
                      {'name': 'connector', 'sensor': 1, 'heater_w': 40, 'min_c': -30, 'hyst_k': 2,
                       'cutoff_c': 60, 'guards': 'contactor', 'floor_c': -40}]}


def boot(wipe=True):
    # app_boot's order: the cold wiring first, then the OCPP core handed to it
    app = App()
    cold = app_cold_make.build(app, {'thermal': thermal()})
    cold.core = Core(wipe)
    return app, cold


def get(cold, keys=None):
    gc.collect()
    r = json.loads(cold.core.cfg.ocpp_get_json(keys))
    return {k['key']: k['value'] for k in r['configurationKey']}, r.get('unknownKey', [])


def change(cold, key, value):
    return cold.core.cfg.ocpp_change(key, value)


def steps(app, cold, temps_c, n=3):
    b = app.board
    for k in range(n):
        for i, t in enumerate(temps_c):
            b.adc[i] = _CONV.counts_at(t)
        b.t_ms += 1000
        app.conn.step(app.conn.cp, b.t_ms)
        cold.step(b.t_ms)
