# Soft start after a trip in the cold: the cold wiring (app_cold.Cold with its RestartGuard) and the
# real setpoint executor (power.Power) stepped as app._control steps them. An EV that trips gets the
# back-off, then restarts at a quarter of what the executor would allow, rising to all of it over
# the ramp; the contactor closes once per back-off, never in a loop.
import os

import ntc
from cold_board import Board
import app_cold_make
import profiles
from connector import Connector
from power import Power

MAX_W = 11000
RAMP_W_S = 5000
_CONV = ntc.Ntc({'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000})


class Core:
    tx_ltx = 0

    def __init__(self):
        try:
            os.remove('profiles.json')
        except OSError:
            pass
        self.power = profiles.setup(Power(), (MAX_W, 230, False, RAMP_W_S, 60, 20))

    def accepted(self):
        return False


class App:
    def __init__(self):
        self.board = Board([_CONV.counts_at(-12)] * 2)  # warm enough: min -20 + 2 K
        self.conn = Connector(1)
        self.cold = False


def _station(**restart):
    s = {'beta': 3950, 'r0': 10000, 't0_c': 25, 'r_fixed': 10000, 'channel': 0}
    return {'restart': restart,
            'thermal': {'sensors': [s], 'zones': [{'name': 'electronics', 'sensor': 0, 'heater_w': 60,
                                                   'min_c': -20, 'hyst_k': 2, 'cutoff_c': 60}]}}


class Rig:
    # app._control's order: pilot -> connector, cold step, executor, contactor
    def __init__(self, **restart):
        self.app = App()
        self.cold = app_cold_make.build(self.app, _station(**restart))
        self.cold.core = Core()
        c = self.app.conn
        c.step('C', 0)
        c.authorize(0)
        c.begin_tx()
        self.now = 0
        self.w = 0

    def step(self, cp='C', dt=200):
        self.now += dt
        a = self.app
        c, b = a.conn, a.board
        b.t_ms += dt
        c.step(cp, self.now)
        self.cold.step(self.now)
        self.w = self.cold.core.power.step(self.now, 1768888800 + self.now // 1000,
                                           c.want_contactor() and c.fault is None, a.cold, True, 1,
                                           None, -1, False)
        on = c.want_contactor()
        if on and not b.closed:
            b.closes += 1
        b.closed = on
        return self.w

    def run_until_closed(self, limit_ms):
        t0 = self.now
        while not self.app.board.closed:
            assert self.now - t0 < limit_ms, 'the contactor never closed again'
            w = self.step()
            assert w == 0 or self.app.board.closed, 'no current while the contactor is held open'
        return self.now - t0


def test_a_session_without_trips_charges_at_the_full_limit():
    r = Rig()
    for _ in range(20):
        r.step()
    assert r.app.board.closed and not r.app.cold
    assert r.w == MAX_W and r.cold.core.power.soft_pct == 100


def test_ev_restarting_after_a_trip_in_the_cold_ramps_from_a_quarter_to_the_full_limit():
    r = Rig(base_s=30, max_s=240, tries=4, ramp_s=60)
    for _ in range(20):
        r.step()
    assert r.w == MAX_W
    r.step('F')  # the EV's charger trips...
    assert not r.app.board.closed and r.w == 0
    waited = r.run_until_closed(60000)  # ...and is ready again at once: the back-off holds it
    assert 30000 <= waited <= 30600, waited
    closed_at = r.now
    # the first second: at most a quarter of the limit, whatever the executor's own ramp allows
    first = [r.step() for _ in range(5)]
    assert max(first) <= MAX_W * 26 // 100, first
    assert first[-1] >= MAX_W * 24 // 100, first
    # halfway through the ramp: 25 % + 75 % x 1/2 of the limit, then the whole limit
    while r.now - closed_at < 30000:
        r.step()
    assert abs(r.w - MAX_W * 625 // 1000) <= MAX_W // 50, r.w
    rising = []
    while r.now - closed_at < 61000:
        rising.append(r.step())
    assert all(b >= a for a, b in zip(rising, rising[1:])), 'the ramp only rises'
    assert r.w == MAX_W and r.cold.core.power.soft_pct == 100
    assert r.app.board.closes == 2, 'one close per start, no cycling'


def test_an_ev_that_keeps_tripping_restarts_soft_each_time_then_is_given_up():
    r = Rig(base_s=10, max_s=40, tries=3, ramp_s=60)
    for _ in range(5):
        r.step()
    waits = []
    for _ in range(2):
        r.step('F')
        waits.append(r.run_until_closed(120000))
        r.step()
        r.step()
        assert 0 < r.w <= MAX_W * 26 // 100, 'each restart begins at a quarter'
        for _ in range(50):  # 10 s into the ramp (25 % + 75 % / 6) the EV trips again
            r.step()
        assert MAX_W * 35 // 100 < r.w < MAX_W * 40 // 100, r.w
    assert 10000 <= waits[0] <= 10600 and 20000 <= waits[1] <= 20600, waits
    r.step('F')  # the third trip: given up until the EV is unplugged
    for _ in range(600):
        assert r.step() == 0
    assert not r.app.board.closed and r.app.board.closes == 3
    # a new EV (unplug, plug) starts afresh at the full limit
    r.step('A')
    assert r.cold.core.power.soft_pct == 100


def test_the_soft_start_cap_scales_a_profile_limit_and_a_discharge_alike():
    p = profiles.setup(Power(), (MAX_W, 230, True, 100000, 60, 20))
    p.limit, p.end, p.tx = -8000, 0, 1
    p.soft_pct = 25
    assert p.step(0, 0, True, False, True, 1, None, 80, True) == 0
    assert p.step(1000, 1, True, False, True, 1, None, 80, True) == -2000
    p.limit = 6000
    assert p.step(2000, 2, True, False, True, 1, None, 80, True) == 1500
    p.soft_pct = 100
    assert p.step(3000, 3, True, False, True, 1, None, 80, True) == 6000
    p.soft_pct = 50
    assert p.step(4000, 4, True, True, True, 1, None, 80, True) == 0, 'the interlock still cuts'
