# NTC thermistor: raw ADC counts -> temperature in centi-degrees Celsius (int).
#
# The curve is computed once, at construction, with floats (Beta or Steinhart-Hart); conversion at
# run time is a binary search plus a linear interpolation in integers, so it allocates nothing
# (floats are heap objects on MicroPython) and costs the same on every call.
#
# Configuration (a dict, e.g. one entry of the thermal config's "sensors" list):
#   "beta": 3950, "r0": 10000, "t0_c": 25       Beta model (R = r0 at t0_c), or
#   "sh": [a, b, c]                             Steinhart-Hart: 1/T = a + b ln R + c (ln R)^3, T in K
#   "r_fixed": 10000                            the divider's fixed resistor (ohm)
#   "topology": "pullup" | "pulldown"           pullup: Vs - R_fixed - node - NTC - GND (counts rise as
#                                               it gets colder); pulldown: Vs - NTC - node - R_fixed - GND
#   "adc_bits": 12, "vref_mv": 3300, "vsupply_mv": 3300   ADC full scale and divider supply
#   "t_lo_c": -60, "t_hi_c": 150                readings outside are open / short circuit faults
import math
from array import array
from micropython import const

# Fault codes: outside any temperature the table can return (it spans -60..+150 C at most).
OPEN = const(-30001)    # NTC or its wire broken (pullup: counts at full scale)
SHORT = const(-30002)   # NTC or its wire shorted (pullup: counts near zero)
_FAULT_MAX = const(-30000)


def is_fault(v):
    return v <= _FAULT_MAX


def _r_beta(t_k, beta, r0, t0_k):
    return r0 * math.exp(beta * (1.0 / t_k - 1.0 / t0_k))


def _r_sh(t_k, a, b, c):
    # Inverse of Steinhart-Hart by Newton's method on x = ln R.
    y = 1.0 / t_k
    x = (y - a) / b
    for _ in range(30):
        f = a + b * x + c * x * x * x - y
        x -= f / (b + 3.0 * c * x * x)
        if abs(f) < 1e-12:
            break
    return math.exp(x)


class Ntc:
    def __init__(self, cfg):
        self.bits = cfg.get("adc_bits", 12)
        full = (1 << self.bits) - 1
        self.full = full
        rf = float(cfg.get("r_fixed", 10000))
        self.pullup = cfg.get("topology", "pullup") == "pullup"
        gain = float(cfg.get("vsupply_mv", 3300)) / float(cfg.get("vref_mv", 3300))
        t_lo = int(cfg.get("t_lo_c", -60))
        t_hi = int(cfg.get("t_hi_c", 150))
        if t_hi <= t_lo:
            raise ValueError("ntc range")
        sh = cfg.get("sh")
        beta = float(cfg.get("beta", 3950))
        r0 = float(cfg.get("r0", 10000))
        t0_k = float(cfg.get("t0_c", 25)) + 273.15
        n = t_hi - t_lo + 1
        # tab[i]: 16 x the counts at t_lo + i degrees; strictly monotonic in i.
        tab = array("l", [0] * n)
        for i in range(n):
            t_k = t_lo + i + 273.15
            if sh:
                r = _r_sh(t_k, float(sh[0]), float(sh[1]), float(sh[2]))
            else:
                r = _r_beta(t_k, beta, r0, t0_k)
            ratio = r / (r + rf) if self.pullup else rf / (r + rf)
            tab[i] = int(ratio * gain * full * 16 + 0.5)
        for i in range(1, n):
            if tab[i] == tab[i - 1]:
                raise ValueError("ntc curve flat: more ADC bits or another divider needed")
        self.tab = tab
        self.n = n
        self.t_lo_cc = t_lo * 100
        # Monotonic direction: pullup counts fall as temperature rises.
        self.falling = tab[0] > tab[n - 1]

    def read_cc(self, counts):
        # counts -> centi-degrees C, or OPEN / SHORT.
        x = counts * 16
        tab = self.tab
        n = self.n
        if self.falling:
            if x > tab[0]:
                return OPEN if self.pullup else SHORT
            if x < tab[n - 1]:
                return SHORT if self.pullup else OPEN
            lo = 0
            hi = n - 1
            while hi - lo > 1:
                mid = (lo + hi) >> 1
                if tab[mid] >= x:
                    lo = mid
                else:
                    hi = mid
        else:
            if x < tab[0]:
                return OPEN if not self.pullup else SHORT
            if x > tab[n - 1]:
                return SHORT if not self.pullup else OPEN
            lo = 0
            hi = n - 1
            while hi - lo > 1:
                mid = (lo + hi) >> 1
                if tab[mid] <= x:
                    lo = mid
                else:
                    hi = mid
        c0 = tab[lo]
        span = tab[lo + 1] - c0
        num = (x - c0) * 100
        # Round to nearest, same result for either sign of span.
        if span < 0:
            num = -num
            span = -span
        return self.t_lo_cc + lo * 100 + (num + (span >> 1)) // span

    def counts_at(self, temp_c):
        # Inverse (floats, for tests and plant emulation): counts at temp_c, rounded.
        t = (temp_c * 100 - self.t_lo_cc) / 100.0
        i = int(t)
        if i < 0:
            i = 0
        if i > self.n - 2:
            i = self.n - 2
        f = t - i
        v = self.tab[i] + (self.tab[i + 1] - self.tab[i]) * f
        return int(v / 16 + 0.5)

    def temp_c(self, counts):
        # Float convenience (allocates): degrees C, or None on a fault.
        v = self.read_cc(counts)
        if is_fault(v):
            return None
        return v / 100.0


# Channel fault bits (thermal.py uses the same values for its alarms).
F_OPEN = const(1)
F_SHORT = const(2)
F_STUCK = const(4)
F_RATE = const(8)
_BIG = const(0x3FFFFFFF)
_MIN_MS = const(60000)


class Channel:
    # One thermistor input and its health: open/short from the counts, stuck (counts frozen for
    # stuck_ms while the heater duty swung by stuck_swing per mille), implausible rate of change
    # (more than rate_cc_min per minute, checked per reading and per minute). Open/short clear after
    # recover_ms of valid readings; stuck and rate stay until clear().
    def __init__(self, conv, idx, rate_cc_min=500, stuck_ms=3600000, stuck_swing=500,
                 recover_ms=60000):
        self.conv = conv          # Ntc
        self.idx = idx            # index into the counts sequence
        self.rate = rate_cc_min
        self.stuck_ms = stuck_ms
        self.swing = stuck_swing
        self.recover_ms = recover_ms
        self.clear()

    def clear(self):
        self.fault = 0            # F_OPEN | F_SHORT | F_STUCK | F_RATE
        self.raw_cc = OPEN        # this step's conversion, whatever the health (or OPEN/SHORT)
        self.t_cc = 0             # last valid reading
        self.have = 0             # 0: no valid reading yet (or since a recovery)
        self.counts = -1          # last raw counts
        self.still_ms = 0         # time the counts have not changed
        self.dmin = 0             # heater duty range seen while they did not
        self.dmax = 0
        self.ok_ms = 0            # valid time since an open/short fault
        self.ref_cc = 0           # reading at the start of the current minute
        self.ref_ms = 0

    def ok(self):
        return self.have and not self.fault

    def read(self, counts, dt, duty):
        # counts: the sequence of raw readings; duty: the zone heater's last duty (per mille).
        c = counts[self.idx]
        v = self.conv.read_cc(c)
        self.raw_cc = v
        if v <= _FAULT_MAX:
            self.fault |= F_OPEN if v == OPEN else F_SHORT
            self.ok_ms = 0
            self.have = 0
            return
        if self.fault & (F_OPEN | F_SHORT):
            self.ok_ms += dt
            if self.ok_ms < self.recover_ms:
                return
            self.fault &= ~(F_OPEN | F_SHORT)
        if self.have:
            d = v - self.t_cc
            lim = self.rate * (dt if dt > _MIN_MS else _MIN_MS) // _MIN_MS
            if d > lim or -d > lim:
                self.fault |= F_RATE
            self.ref_ms += dt
            if self.ref_ms >= _MIN_MS:
                d = v - self.ref_cc
                lim = self.rate * self.ref_ms // _MIN_MS
                if d > lim or -d > lim:
                    self.fault |= F_RATE
                self.ref_cc = v
                self.ref_ms = 0
            if c == self.counts:
                if self.still_ms < _BIG - dt:
                    self.still_ms += dt
            else:
                self.still_ms = 0
                self.dmin = duty
                self.dmax = duty
        else:
            self.have = 1
            self.ref_cc = v
            self.ref_ms = 0
            self.still_ms = 0
            self.dmin = duty
            self.dmax = duty
        if duty < self.dmin:
            self.dmin = duty
        if duty > self.dmax:
            self.dmax = duty
        if self.still_ms >= self.stuck_ms and self.dmax - self.dmin >= self.swing:
            self.fault |= F_STUCK
        self.counts = c
        self.t_cc = v
