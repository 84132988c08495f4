# One heated zone: its configuration and state (Zone) and its learned lumped model (ZoneModel),
# in small ints (no allocation after construction). thermal.Thermal drives both.
#
# The model:
# Per window of WIN minutes: r = b*u/1000 - a*(T - Te)/1e4, with
#   r  temperature change over the window (cc), u  mean heater duty (per mille), T  temperature (cc),
#   b  change at full duty (cc per window) = P/C, a  1e4 x UA/C per window, Te  the unheated
#   equilibrium (ambient plus internal heat), unknown and slowly varying.
# Two consecutive windows eliminate Te: a duty change gives b, a temperature change at equal duty
# gives a. The loss now (l0 = b*u/1000 - r of the last window) carries the weather.
from array import array
from micropython import const

WIN = const(15)             # minutes per window
_RING = const(31)           # two windows + 1 samples
_SAMPLE_MS = const(60000)
FULL = const(1000)
LEAD_MAX_MIN = const(720)
WARM_CC = const(100)        # drift_gain: a zone this far above its standby level is not judged
_A_MIN = const(20)          # tau from ~15 min to ~125 h
_A_MAX = const(10000)
_B_MIN = const(5)
_B_MAX = const(20000)
_NO_WAY = const(-1000000)   # drift_gain: an excursion the heater cannot end in time
GUARD_BITS = {"contactor": 1, "display": 2, "power": 4}


def with_margin(lead, pct, add):
    # The pre-heat lead planned from a modelled one (minutes): x (100 + pct) % + add, at most
    # LEAD_MAX_MIN (which also stands for out of reach).
    if lead >= LEAD_MAX_MIN:
        return LEAD_MAX_MIN
    lead = lead * (100 + pct) // 100 + add
    return lead if lead < LEAD_MAX_MIN else LEAD_MAX_MIN


def cc(x):
    # config degrees (int or float) -> centi-degrees
    return int(round(float(x) * 100))


class ZoneModel:
    def __init__(self, heater_w, tau_min=60, heat_k_min=0.2):
        self.heater_w = heater_w
        self.a = int(WIN * 10000 / tau_min)
        self.b = int(heat_k_min * 100 * WIN)
        self.na = 0               # a samples accepted
        self.nb = 0               # b samples accepted
        self.l0 = 0               # loss at the last sample, cc per window (last valid window)
        self.ring_t = array("l", [0] * _RING)
        self.ring_u = array("l", [0] * _RING)
        self.ring_ok = bytearray(_RING)
        self.samples = 0
        self.smp_ms = 0
        self.smp_duty = 0         # duty x (ms / 100) in the current sample
        self.smp_bad = 0          # something else heated or the reading was bad

    def add(self, t_cc, duty, dt, bad):
        # Feed every step; returns 1 when a new one-minute sample was taken.
        self.smp_ms += dt
        self.smp_duty += duty * (dt // 100)
        if bad:
            self.smp_bad = 1
        if self.smp_ms < _SAMPLE_MS:
            return 0
        n = self.samples + 1
        k = n % _RING
        self.ring_t[k] = t_cc
        self.ring_u[k] = self.smp_duty // (self.smp_ms // 100)
        self.ring_ok[k] = 0 if self.smp_bad else 1
        self.samples = n
        self.smp_ms -= _SAMPLE_MS
        if self.smp_ms > _SAMPLE_MS:
            self.smp_ms = 0
        self.smp_duty = 0
        self.smp_bad = 0
        if n > WIN:
            self._loss(n)
        if n > 2 * WIN and n % WIN == 0:
            self._learn(n)
        return 1

    def _window(self, n):
        # Mean duty over the WIN samples ending at n, or -1 if one of them was bad.
        u = 0
        for j in range(WIN):
            k = (n - j) % _RING
            if not self.ring_ok[k]:
                return -1
            u += self.ring_u[k]
        return u // WIN

    def _loss(self, n):
        u = self._window(n)
        if u >= 0:
            self.l0 = self.b * u // FULL - (self.ring_t[n % _RING] - self.ring_t[(n - WIN) % _RING])

    def _learn(self, n):
        u2 = self._window(n)
        u1 = self._window(n - WIN)
        if u1 < 0 or u2 < 0:
            return
        t0 = self.ring_t[(n - 2 * WIN) % _RING]
        t1 = self.ring_t[(n - WIN) % _RING]
        t2 = self.ring_t[n % _RING]
        dr = (t2 - t1) - (t1 - t0)
        dtm = (t2 - t0) // 2
        du = u2 - u1
        if du >= 300 or du <= -300:
            bs = (dr + self.a * dtm // 10000) * FULL // du
            if _B_MIN <= bs <= _B_MAX:
                self.b += (bs - self.b) // (2 if self.nb < 4 else 4)
                self.nb += 1
        elif ((u1 >= 950 and u2 >= 950) or (u1 <= 50 and u2 <= 50)) and (dtm >= 200 or dtm <= -200):
            # Constant input through both windows (a heat-up or a drift): a alone.
            a_s = (self.b * du // FULL - dr) * 10000 // dtm
            if a_s < _A_MIN:
                a_s = _A_MIN
            elif a_s > _A_MAX:
                a_s = _A_MAX
            self.a += (a_s - self.a) // (2 if self.na < 4 else 8)
            self.na += 1
        if self.a < _A_MIN:
            self.a = _A_MIN
        if self.b < _B_MIN:
            self.b = _B_MIN

    def lead_min(self, t0, target, l0=None):
        # Minutes at full duty from t0 to target (cc), LEAD_MAX_MIN if out of reach; l0: the loss
        # at t0 (cc per window) when t0 is not the present temperature.
        if t0 >= target:
            return 0
        if l0 is None:
            l0 = self.l0
        step = (target - t0 + 7) // 8
        tot = 0
        tm = t0 + step // 2
        b = self.b
        for _ in range(8):
            r = b - l0 - self.a * (tm - t0) // 10000
            if r < b // 16 or r <= 0:
                return LEAD_MAX_MIN
            tot += step * WIN * 10 // r
            tm += step
        return tot // 10

    def hold_duty(self, t_now, t_hold):
        # Per mille of heater duty that holds the zone at t_hold (cc).
        l_h = self.l0 + self.a * (t_hold - t_now) // 10000
        if l_h <= 0:
            return 0
        d = l_h * FULL // self.b
        return d if d < FULL else FULL

    def gain_cc(self, t_now, t_at, secs):
        # Rise (cc) at full duty over secs (short: linear) starting from t_at (cc), the loss taken
        # from the last window at t_now; 0 when the heater cannot win against the loss.
        g = self.b - self.l0 - self.a * (t_at - t_now) // 10000
        return g * secs // (WIN * 60) if g > 0 else 0

    def drift_gain(self, t_now, t_s, floor_cc, pct, add_min, tot, th_max=LEAD_MAX_MIN):
        # Adds to tot[e] the heat (0.1 Wh) saved by the best excursion from the standby level
        # t_s (cc) that is back there within e windows: cool with the heater off (no colder than
        # floor_cc), then heat at full duty from the lead time before the end (the pre-heat's,
        # with_margin). Against holding t_s throughout, cooling saves
        # the hold (at the floor: only the loss the deficit avoids), and the re-heat costs the
        # heater less the hold it replaces. The net is the loss the deficit avoided over the whole
        # excursion, which grows with the square of a short one's length: drifts are judged as
        # whole runs because a short one saves little while its arrivals count in full.
        # A zone more than WARM_CC above t_s (still warm from a session) adds nothing: it costs
        # nothing until it gets down there either way, and its loss there, extrapolated across
        # the gap with a learned a that can be off by x2 in wind, is a phantom hold (DC-60's
        # power modules at -13 C: 468 W where 4 W hold them). Judged again once it is near.
        if t_now > t_s + WARM_CC:
            return
        a = self.a
        l_s = self.l0 + a * (t_s - t_now) // 10000   # loss at the standby level, cc per window
        n = len(tot)
        if l_s <= 0 or t_s <= floor_cc or self.heater_w <= 0:
            return
        dmax = t_s - floor_cc
        b = self.b
        d = 0           # deficit below t_s, cc
        sav = 0         # saved so far in cooling, cc per window x windows
        best = 0
        e = 0
        for w in range(n):
            th = self.lead_min(t_s - d, t_s, l_s - a * d // 10000) if d > 0 else 0
            if th >= LEAD_MAX_MIN or th > th_max:
                # The zone would cool this far in any longer drift, and its heater could not
                # bring it back (in th_max): no longer end is allowed at all.
                best = _NO_WAY
                break
            e_w = (w * WIN + with_margin(th, pct, add_min) + WIN - 1) // WIN
            s_w = (sav + (l_s - b) * th // WIN) * self.heater_w * 10 // (4 * b)
            while e < e_w and e < n:
                tot[e] += best
                e += 1
            if s_w > best:
                best = s_w
            if e >= n:
                return
            if d >= dmax:
                sav += a * dmax // 10000   # held at the floor: saves the deficit's loss only
            else:
                sav += l_s                 # heater off: the whole hold is saved
                d += l_s - a * d // 10000
                if d > dmax:
                    d = dmax
        while e < n:
            tot[e] += best
            e += 1

    def params(self):
        # (C J/K, UA W/K) learned so far, or None before any learning (floats: reports only).
        if self.heater_w <= 0 or not (self.na or self.nb):
            return None
        c = self.heater_w * WIN * 60 * 100 / self.b
        return c, c * self.a / 10000 / (WIN * 60)


class Zone:
    # One heated zone: configuration, interlock and control state, and its learned model.
    def __init__(self, zc, sensors, g):
        self.name = zc["name"]
        self.guard = GUARD_BITS[zc.get("guards", "contactor")]
        self.preheat = 1 if zc.get("preheat", self.guard != 2) else 0  # 2: display
        self.s1 = sensors[zc["sensor"]]
        s2 = zc.get("sensor2")
        self.s2 = sensors[s2] if s2 is not None else None
        self.heater_w = int(zc.get("heater_w", 0))
        self.relay = 1 if zc.get("output", "pwm") == "relay" else 0
        self.min_on_ms = int(zc.get("min_on_s", 0) * 1000)
        self.min_off_ms = int(zc.get("min_off_s", 0) * 1000)
        self.min_cc = cc(zc["min_c"])
        self.hyst_cc = cc(zc.get("hyst_k", 2))
        self.cut_cc = cc(zc.get("cutoff_c", 60))
        self.hold_cc = self.min_cc + cc(zc.get("hold_k", g["hold_k"]))
        self.drop_cc = self.min_cc + cc(zc.get("drop_margin_k", g["drop_margin_k"]))
        self.floor_cc = cc(zc.get("floor_c", g["floor_c"]))
        self.failsafe = int(float(zc.get("failsafe_duty", g["failsafe_duty"])) * FULL)
        # state
        self.fault = 0            # F_* alarm bits, sensor faults OR-ed in
        self.last_fault = 0
        self.unsafe = 1           # 1: no trustworthy reading -> interlock held, fail-safe duty
        self.latched = 0          # F_DISAGREE | F_HEATER | F_OVERTEMP latched at zone level
        self.t_cc = 0             # control temperature (the colder sensor)
        self.hot_cc = 0           # over-temperature temperature (the warmer sensor)
        self.valid = 0            # 1 when t_cc is a usable reading this step
        self.ready = 0            # interlock: 1 = this zone allows its guarded output
        self.duty = 0             # commanded duty, per mille (0/1000 for relay outputs)
        self.want = 0             # 1 = heating to / holding the operating temperature
        self.mode = 0             # 0 floor, 1 heat-up, 2 hold, 3 fail-safe, 4 over-temp off, 5 standby
        self.i_u = 0              # PI integral, micro-duty (duty x 1000)
        self.dis_ms = 0           # sensors disagree for this long
        self.relay_on = 0
        self.relay_ms = 0x3FFFFFF # time in the present relay state (long: free to switch at boot)
        self.sd_acc = 0           # relay modulator error, duty x ms / 1000
        self.hf_on = 0            # heater check episode running
        self.hf_ms = 0
        self.hf_t0 = 0
        self.wh = 0               # heater energy, Wh
        self.mws = 0              # remainder, mW s (mJ)
        tau_min = float(zc.get("tau_min", g["tau_min"]))
        self.model = ZoneModel(self.heater_w, tau_min, float(zc.get("heat_k_min", g["heat_k_min"])))
        self.lead_min = 0         # estimated minutes to reach the standby level at full power
        self.near_cc = self.hold_cc  # standby level while idle but wanted (see Thermal wait_s)
