# Thermal cases for CPython-driven tests (firmware/tests/test_thermal_hypothesis.py) and the
# fixtures the MicroPython thermal suites share (a small zone plant, a station configuration).
# Arguments and results of the case functions are JSON-serialisable.
import gc
import math
import ntc
import thermal
from arrivals import Arrivals

NTC = {"beta": 3950, "r0": 10000, "t0_c": 25, "r_fixed": 10000, "topology": "pullup", "adc_bits": 12}
CONV = ntc.Ntc(NTC)
MIN = 60000


def cfg(**kw):
    c = {
        "sensors": [dict(NTC, channel=0), dict(NTC, channel=1), dict(NTC, channel=2)],
        "zones": [
            {"name": "electronics", "sensor": 0, "heater_w": 60, "min_c": -20, "hyst_k": 2,
             "cutoff_c": 60, "guards": "contactor"},
            {"name": "connector", "sensor": 1, "heater_w": 20, "min_c": -30, "hyst_k": 2,
             "cutoff_c": 50, "guards": "contactor"},
            {"name": "display", "sensor": 2, "heater_w": 5, "min_c": -20, "hyst_k": 2,
             "cutoff_c": 60, "guards": "display"},
        ],
    }
    c.update(kw)
    return c


class Plant:
    # First-order zones: C dT/dt = P*duty + P_int - UA (T - T_amb), read through the NTC table.
    def __init__(self, temps, amb=-35.0):
        self.t = list(temps)
        self.amb = amb
        self.c = [8000.0, 1500.0, 300.0]
        self.ua = [1.6, 0.5, 0.15]
        self.p = [60.0, 20.0, 5.0]
        self.dead = [False, False, False]
        self.internal = [3.0, 0.0, 1.0]

    def counts(self):
        return [CONV.counts_at(x) for x in self.t]

    def step(self, duties, dt_s):
        for i in range(len(self.t)):
            p = (0 if self.dead[i] else self.p[i] * duties[i] / 1000) + self.internal[i]
            eq = self.amb + p / self.ua[i]
            self.t[i] = eq + (self.t[i] - eq) * math.exp(-dt_s * self.ua[i] / self.c[i])


def run(ctl, plant, minutes, now=0, tod=-1, dt_ms=MIN, until=None):
    for _ in range(minutes):
        now += dt_ms
        a = ctl.step(plant.counts(), now & 0x3FFFFFFF, tod)
        plant.step(ctl.duty, dt_ms / 1000)
        if until is not None and until(a):
            break
    return now


def day(ctl, plant, start_tod, hours, now):
    # Run `hours` of one-minute steps from local time start_tod; (now, contactor allowed per
    # minute). Minute i is at local time (start_tod + 60 i) % 86400.
    allowed = bytearray(hours * 60)
    for m in range(hours * 60):
        now += MIN
        a = ctl.step(plant.counts(), now, (start_tod + m * 60) % 86400)
        plant.step(ctl.duty, 60)
        allowed[m] = a & thermal.G_CONTACTOR
    return now, allowed


def allocated(steps):
    # Bytes the call steps() leaves allocated, with the collector off while it runs.
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        steps()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def quiet_night_pattern():
    # 30 days of arrivals between 07:15 and 19:15, none at night.
    a = Arrivals()
    for _ in range(30):
        for h in (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19):
            a.record(h * 3600 + 900)
        a.observe(23 * 3600)
        a.observe(0)
    return a


# -- cases for hypothesis -------------------------------------------------------------------

def ntc_cc(ntc_cfg, counts):
    # Firmware conversion of each raw reading (centi-degrees or a fault code).
    conv = ntc.Ntc(ntc_cfg)
    return [conv.read_cc(c) for c in counts]


def run_sequence(config, seq):
    # seq: [[dt_ms, counts, tod_s, flags], ...] with flags 1 = demand, 2 = session.
    # Returns a flat list, per step: allowed bits, then per zone duty, then per zone fault bits.
    gc.collect()
    ctl = thermal.Thermal(config)
    n = ctl.n
    out = [0] * (len(seq) * (1 + 2 * n))
    now = 0
    i = 0
    for dt_ms, counts, tod, flags in seq:
        now = (now + dt_ms) & 0x3FFFFFFF
        if flags & 1:
            ctl.demand(now)
        ctl.set_session(flags & 2)
        out[i] = ctl.step(counts, now, tod)
        for z in range(n):
            out[i + 1 + z] = ctl.duty[z]
            out[i + 1 + n + z] = ctl.zones[z].fault
        i += 1 + 2 * n
    return out
