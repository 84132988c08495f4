# Thermal controller: heater zones, cold-start interlock, sensor fail-safe, over-temperature cut-off,
# energy-aware heating with predictive pre-heat. See docs/thermal.md for the design and the keys.
#
# Thermal(cfg, arrivals).step(counts, now_ms, tod_s) is a pure step: no clock, no I/O; everything
# comes in as arguments and the results are left in preallocated arrays (duty, temp_cc, ...).
# Inside step all arithmetic is on small ints (temperatures in centi-degrees C, duty in per mille),
# so the step allocates nothing; floats appear only at construction and in the report helpers.
#
# now_ms is a millisecond tick that may wrap at 2**30 (pass time.ticks_ms() & 0x3FFFFFFF): only
# differences of consecutive calls are used, and each is clamped to [0, 600 s].
from array import array
from micropython import const

import ntc
from arrivals import Arrivals, NBINS, BIN_S
from zonemodel import Zone, WIN, with_margin, GUARD_BITS as _GUARD_BITS
from restart import RestartGuard, ticks_diff  # noqa: F401  (RestartGuard: part of this API)

G_CONTACTOR = const(1)
G_DISPLAY = const(2)
G_POWER = const(4)
_CHARGE_GUARDS = const(5)  # contactor | power: the outputs that let an EV charge

# Fault bits (per sensor, from ntc.Channel: OPEN..RATE; per zone: all, sensor bits OR-ed in).
F_OPEN = const(1)
F_SHORT = const(2)
F_STUCK = const(4)
F_RATE = const(8)
F_DISAGREE = const(16)
F_HEATER = const(32)
F_OVERTEMP = const(64)
_F_UNSAFE = const(48)      # zone-level faults that make its reading untrustworthy (with no reading)
ALARM_CODES = (
    (F_OPEN, "SensorOpen"), (F_SHORT, "SensorShort"), (F_STUCK, "SensorStuck"),
    (F_RATE, "SensorRate"), (F_DISAGREE, "SensorDisagree"), (F_HEATER, "HeaterFault"),
    (F_OVERTEMP, "OverTemp"),
)

FULL = const(1000)          # duty per mille
_DT_MAX = const(600000)
_V_MAX = const(20000)       # Wh per arrival
_BIG = const(0x3FFFFFFF)
_GAIN_N = const(33)         # drift excursions judged up to 8 h (in 15-minute windows)
_BELOW_CC = const(50)       # a zone this far under its standby level is still re-heating


def _same_ntc(a, b):
    for k in a:
        if k != "channel" and b.get(k) != a[k]:
            return False
    return len(a) - ("channel" in a) == len(b) - ("channel" in b)


def _cc(x):
    return int(round(float(x) * 100))


class Thermal:
    def __init__(self, cfg, arrivals=None):
        g = {
            "hold_k": cfg.get("hold_k", 0.6),
            "drop_margin_k": cfg.get("drop_margin_k", 0.1),
            "floor_c": cfg.get("floor_c", -38),
            "failsafe_duty": cfg.get("failsafe_duty", 0.3),
            "tau_min": cfg.get("tau_min", 60),
            "heat_k_min": cfg.get("heat_k_min", 0.2),
        }
        convs = []
        sensors = []
        for i, sc in enumerate(cfg["sensors"]):
            conv = None
            for j in range(i):
                if _same_ntc(cfg["sensors"][j], sc):
                    conv = convs[j]
            if conv is None:
                conv = ntc.Ntc(sc)
            convs.append(conv)
            sensors.append(ntc.Channel(
                conv, int(sc.get("channel", i)), _cc(cfg.get("rate_k_min", 5)),
                int(cfg.get("stuck_min", 60) * 60000), int(cfg.get("stuck_swing", 0.5) * FULL),
                int(cfg.get("recover_s", 60) * 1000)))
        self.sensors = sensors
        self.counts = None
        self.zones = [Zone(zc, sensors, g) for zc in cfg["zones"]]
        n = len(self.zones)
        self.n = n
        self.duty = array("H", [0] * n)      # per mille, per zone: the heater outputs
        self.temp_cc = array("l", [0] * n)   # control temperature per zone (ntc.OPEN/SHORT on fault)
        self.dis_cc = _cc(cfg.get("disagree_k", 3))
        self.dis_ms_max = int(cfg.get("disagree_s", 120) * 1000)
        self.hf_ms_max = int(cfg.get("heater_check_min", 20) * 60000)
        self.hf_rise_cc = _cc(cfg.get("heater_rise_k", 1))
        self.ot_hyst_cc = _cc(cfg.get("overtemp_hyst_k", 5))
        self.kp = int(cfg.get("kp_per_k", 600))          # per mille per K
        self.ki = int(cfg.get("ki_per_k_min", 200))      # per mille per K per minute
        self.demand_ms = int(cfg.get("demand_min", 30) * 60000)
        self.budget_pm = int(cfg.get("miss_budget_pm", 7))
        self.lead_pct = int(cfg.get("lead_margin_pct", 25))
        self.lead_add = int(cfg.get("lead_margin_min", 5))
        self.value_wh = int(cfg.get("wait_value_wh", 500))
        # false: V stays at wait_value_wh, a trade-off fixed by the operator rather than steered
        # toward miss_budget_pm (the learned.bin keeps the models, not its V)
        self.v_learn = 1 if cfg.get("wait_value_learn", True) else 0
        self.predict = 1 if cfg.get("predict", True) else 0
        # A driver who comes during a drift waits for the re-heat: never plan one longer.
        self.reheat_max = int(cfg.get("drift_reheat_max_min", 45))
        # ... and end one under way once a zone's re-heat (a lead, so with its margin) is longer
        self.reheat_lead_max = with_margin(self.reheat_max, self.lead_pct, self.lead_add)
        # Idle standby below the release threshold: a zone wanted ready may sit as low as it can
        # and still be released within wait_s of a plug-in (0: off, zones are held released).
        self.wait_s = int(cfg.get("wait_s", 0))
        self.near_pct = int(cfg.get("near_pct", 60))  # share of the model's predicted rise used
        self.arrivals = arrivals if arrivals is not None else Arrivals()
        self.arrivals.set_quiet(int(cfg.get("quiet_share_pm", 60)))
        # state
        self.last_ms = 0
        self.started = 0
        self.tod_s = -1           # local time of day last given to step, -1 unknown
        self.session = 0          # 1 while an EV is plugged in / authorized / charging
        self.demand_left = 0      # ms of on-demand heating left (plug-in / authorization)
        self.allowed = 0          # G_* bits whose guarding zones are all ready
        self.risk_u = 0           # expected arrivals (micro) today that would wait > wait_s
        self.expect_u = 0         # expected arrivals (micro) while idle today
        self.risk_m = 0           # the same two, milli, summed over past days with decay 31/32
        self.expect_m = 0
        self.heated = 0           # 1: a pre-heated zone drew heat while idle today
        self.wait_ms = -1         # how long the last arrival has waited for charging; -1: none
        self.wait_new = 0         # 1: the arrival came since the last step
        self.arr_day = 0          # arrivals today, and those that waited longer than allowed
        self.miss_day = 0
        self.arr_m = 0            # the same two, milli, summed over past days with decay 31/32
        self.miss_m = 0
        self.want_in_s = 0        # seconds until the learned pattern wants the zones ready
        self.drift_s = 0          # s left of the drift the plan chose (0: none)
        self.plan_ms = 0          # ms since the plan was last judged
        self.gain = array("l", [0] * _GAIN_N)  # heat a drift back within e windows saves, 0.1 Wh
        self.ready_s = _BIG       # estimated s from a plug-in until charging is allowed (0: now)
        self.alarm_seq = 0        # bumped whenever any zone's alarm bits change
        self.guards = 0           # charge guard bits some zone guards (contactor, power)
        for z in self.zones:
            self.guards |= z.guard & _CHARGE_GUARDS

    # -- inputs besides step -------------------------------------------------------------

    def demand(self, now_ms):
        # Plug-in or authorization: heat every zone to operating temperature now.
        self.drift_s = 0   # judged again, from warm, once the session is over
        if self.demand_left <= 0:
            self.arrivals.record(self.tod_s)
            self.arr_day += 1
            if self.wait_ms < 0:
                self.wait_ms = 0
                self.wait_new = 1
        self.demand_left = self.demand_ms

    def set_session(self, active):
        # An EV is plugged in, authorized or charging (1) - waiting for the interlock included -
        # or gone (0). While active every zone is heated to / held at operating temperature.
        self.session = 1 if active else 0

    def reset_alarms(self):
        # Operator reset: clears latched faults; detectors start again from scratch.
        for z in self.zones:
            z.latched = 0
            z.hf_on = 0
            z.dis_ms = 0
        for s in self.sensors:
            s.clear()

    # -- the step -------------------------------------------------------------------------

    def step(self, counts, now_ms, tod_s=-1):
        # counts: raw ADC counts per sensor channel; returns the G_* bits allowed now.
        if self.started:
            dt = ticks_diff(now_ms, self.last_ms)
            if dt < 0:
                dt = 0
            elif dt > _DT_MAX:
                dt = _DT_MAX
        else:
            dt = 0
            self.started = 1
        self.last_ms = now_ms
        if tod_s >= 0 and self.tod_s >= 0 and tod_s < self.tod_s:
            self._new_day()
        self.tod_s = tod_s
        self.arrivals.observe(tod_s)
        if self.demand_left > 0:
            self.demand_left -= dt
        self.counts = counts
        zones = self.zones
        for z in zones:
            self._zone_temp(z, dt)
        self._plan(dt)
        allowed = 7
        i = 0
        for z in zones:
            self._control(z, dt)
            if not z.ready:
                allowed &= ~z.guard
            self.duty[i] = z.duty
            self.temp_cc[i] = z.t_cc if z.valid else (ntc.SHORT if z.fault & F_SHORT else ntc.OPEN)
            if z.fault != z.last_fault:
                z.last_fault = z.fault
                self.alarm_seq += 1
            i += 1
        self.allowed = allowed
        if self.wait_ms >= 0:
            # Measured service: an arrival that waits longer than allowed is a miss.
            if allowed & self.guards == self.guards:
                self.wait_ms = -1
            else:
                if self.wait_new:
                    self.wait_new = 0
                else:
                    self.wait_ms += dt
                if self.wait_ms > (self.wait_s if self.wait_s > 60 else 60) * 1000:
                    self.miss_day += 1
                    self.wait_ms = -1
                    self._missed()
        self._ready_s()
        self._account(dt)
        return allowed

    def _zone_temp(self, z, dt):
        s1 = z.s1
        s1.read(self.counts, dt, z.duty)
        ok1 = s1.ok()
        s2 = z.s2
        f = s1.fault
        if s2 is not None:
            s2.read(self.counts, dt, z.duty)
            ok2 = s2.ok()
            f |= s2.fault
            if ok1 and ok2:
                t1 = s1.t_cc
                t2 = s2.t_cc
                d = t1 - t2
                if d > self.dis_cc or -d > self.dis_cc:
                    z.dis_ms += dt
                    if z.dis_ms >= self.dis_ms_max:
                        z.latched |= F_DISAGREE
                else:
                    z.dis_ms = 0
                z.t_cc = t1 if t1 < t2 else t2
                z.hot_cc = t1 if t1 > t2 else t2
            elif ok1 or ok2:
                # One good sensor left: run on it; the alarm names the fault of the other.
                z.t_cc = s1.t_cc if ok1 else s2.t_cc
                z.hot_cc = z.t_cc
            z.valid = 1 if ok1 or ok2 else 0
        else:
            z.t_cc = s1.t_cc
            z.hot_cc = z.t_cc
            z.valid = 1 if ok1 else 0
        # Over-temperature from any converted reading, even one flagged stuck, implausible or
        # still recovering from open/short (fault codes are far below any cut-off):
        # turning a heater off is the safe side of a reading that says hot.
        hot = s1.raw_cc
        if s2 is not None and s2.raw_cc > hot:
            hot = s2.raw_cc
        if hot >= z.cut_cc:
            z.latched |= F_OVERTEMP
        elif z.latched & F_OVERTEMP and hot < z.cut_cc - self.ot_hyst_cc:
            z.latched &= ~F_OVERTEMP
        if z.valid:
            self._heater_check(z, dt)
        if not z.valid and not f:
            f = F_OPEN   # no reading at all yet counts as an open sensor
        z.fault = f | z.latched
        z.unsafe = 1 if not z.valid or z.latched & _F_UNSAFE else 0
        # Interlock: released at min + hysteresis, held again below min + drop margin.
        if z.unsafe:
            z.ready = 0
        elif z.ready:
            if z.t_cc < z.drop_cc:
                z.ready = 0
        elif z.t_cc >= z.min_cc + z.hyst_cc:
            z.ready = 1

    def _heater_check(self, z, dt):
        # A heat-up episode at full duty from well below target must warm the zone.
        if z.duty >= 900 and z.heater_w > 0:
            if not z.hf_on:
                if z.t_cc < z.min_cc + z.hyst_cc - 200:
                    z.hf_on = 1
                    z.hf_ms = 0
                    z.hf_t0 = z.t_cc
            elif z.hf_ms >= 0:
                z.hf_ms += dt
                if z.hf_ms >= self.hf_ms_max:
                    if z.t_cc - z.hf_t0 < self.hf_rise_cc:
                        z.latched |= F_HEATER
                    z.hf_ms = -1   # checked once per episode
        else:
            z.hf_on = 0

    def _ready_s(self):
        # Time to release every charge guard at full duty, from the learned models: what a driver
        # plugging in now would wait. _BIG while a zone has no trustworthy reading or model.
        worst = 0
        for z in self.zones:
            if z.guard & _CHARGE_GUARDS and not z.ready:
                m = z.model
                g = m.gain_cc(z.t_cc, z.t_cc, 900) if m.nb and not z.unsafe else 0
                if g <= 0:
                    worst = _BIG
                    break
                s = (z.min_cc + z.hyst_cc - z.t_cc) * 900 // g + 1
                if s > worst:
                    worst = s if s < _BIG else _BIG
        self.ready_s = worst

    # -- planning: when must the zones be ready -----------------------------------------

    def _plan(self, dt):
        learned = 1
        for z in self.zones:
            if z.preheat and z.valid and not z.model.nb:
                learned = 0   # no heat-up seen yet: its lead time and savings would be guesses
        arr = self.arrivals
        if not self.predict or self.tod_s < 0 or not learned or not arr.mature():
            self.want_in_s = 0
            self.drift_s = 0
            return
        if self.drift_s > 0:
            # A drift once chosen runs to its end (pre-heat starts its lead time before), unless
            # a zone has cooled so far that its re-heat would now take longer than reheat_max:
            # a night that turns colder than when the drift was planned would otherwise make a
            # driver who comes wait longer than promised (AC-7 at -39 C: 65 min against 45).
            self.drift_s -= dt // 1000
            for z in self.zones:
                if z.preheat and z.valid and z.lead_min > self.reheat_lead_max:
                    self.drift_s = 0
            self.want_in_s = self.drift_s if self.drift_s > 0 else 0
            return
        self.plan_ms += dt
        if self.plan_ms < 60000:
            return
        self.plan_ms = 0
        self.want_in_s = 0
        k0 = self.tod_s // BIN_S
        quiet = arr.quiet
        if self.session or self.demand_left > 0 or not quiet[k0]:
            return   # (outside the quiet bins nothing to judge: spare the models' arithmetic)
        # Drift now only through a run of the quietest bins, and only as far as the heat the
        # whole excursion saves (cool, then re-heat in time, from the learned models) outweighs
        # V x the arrivals expected in it. Judged per run, not per bin: a short drift saves
        # little beside its re-heat, while its arrivals count in full.
        for z in self.zones:
            if z.preheat and z.valid and z.t_cc < z.near_cc - _BELOW_CC:
                # Still re-heating (a drift the night made too deep, ended above): judged again
                # from the standby level. drift_gain prices an excursion from there, so a drift
                # begun down here ran on the same deficit, and the zone stayed where its re-heat
                # only just kept the promise by the model, beyond it by the plant (DC-60 with
                # drift_reheat_max_min 30: a 36 min wait).
                return
        gain = self.gain
        for e in range(_GAIN_N):
            gain[e] = 0
        for z in self.zones:
            if z.preheat and z.valid:
                z.model.drift_gain(z.t_cc, z.near_cc, z.floor_cc, self.lead_pct, self.lead_add, gain,
                                   self.reheat_max)
        rate = arr.rate_mh
        v = self.value_wh
        left = BIN_S - self.tod_s % BIN_S
        secs = 0
        exp_m = 0       # arrivals expected (milli) from now to the end of the run so far
        best = 0
        for j in range(NBINS):
            k = (k0 + j) % NBINS
            if not quiet[k]:
                break
            span = left if j == 0 else BIN_S
            secs += span
            exp_m += rate[k] * span // 3600
            e = secs // 900
            if e >= _GAIN_N:
                break
            val = gain[e] * 100 - v * exp_m   # mWh
            if val > best:
                best = val
                self.drift_s = secs
        self.want_in_s = self.drift_s

    # -- control law ---------------------------------------------------------------------

    def _control(self, z, dt):
        want = self.session or self.demand_left > 0
        near = 0
        if not want and z.preheat:
            want = self.want_in_s <= z.lead_min * 60
            # Idle but wanted: the standby level once the heater is known (else held released).
            near = 1 if want and self.wait_s and z.model.nb else 0
        z.want = 1 if want else 0
        if z.latched & F_OVERTEMP:
            z.mode = 4
            d = 0
        elif z.unsafe:
            z.mode = 3
            d = z.failsafe
        elif near:
            if z.mode != 5:
                z.mode = 5
                z.i_u = z.model.hold_duty(z.t_cc, z.near_cc) * 1000
            d = self._pi(z, z.near_cc, dt)
        elif want and not z.ready:
            z.mode = 1
            d = FULL
        elif want:
            if z.mode != 2:
                z.mode = 2
                z.i_u = z.model.hold_duty(z.t_cc, z.hold_cc) * 1000
            m = z.model
            if z.preheat and not m.nb and m.samples > 2 * WIN and (m.samples // WIN) % 4 == 3:
                # Heater strength unknown (no heat-up seen): one window an hour at the held
                # duty + 50 %, so that pre-heat can be planned at all.
                d = z.i_u // 1000 + 500
                if d > FULL:
                    d = FULL
            else:
                # Until the model learned the heater, a pre-heated zone holds higher: its hold
                # duty is a guess. (Zones heated only on demand learn nothing in sessions.)
                d = self._pi(z, z.hold_cc + 90 if z.preheat and not m.nb else z.hold_cc, dt)
        else:
            if z.mode != 0:
                z.mode = 0
                z.i_u = 0
            d = self._pi(z, z.floor_cc, dt) if z.t_cc < z.floor_cc + 100 else 0
        if z.heater_w <= 0:
            d = 0
        if z.relay:
            d = self._relay(z, d, dt)
            if z.mode == 4 and d:
                # Over-temperature overrides the relay's minimum on time.
                z.relay_on = 0
                z.relay_ms = 0
                d = 0
        z.duty = d
        m = z.model
        if m.add(z.t_cc, d, dt, self.session or z.fault or not z.valid) and z.valid:
            rel = z.min_cc + z.hyst_cc
            if self.wait_s and m.nb:
                # Lowest level still released within wait_s (a share of the predicted rise).
                n = rel - m.gain_cc(z.t_cc, rel, self.wait_s) * self.near_pct // 100
                z.near_cc = n if n < z.hold_cc else z.hold_cc
            else:
                z.near_cc = z.hold_cc
            z.lead_min = with_margin(m.lead_min(z.t_cc, z.near_cc + 20), self.lead_pct, self.lead_add)

    def _pi(self, z, set_cc, dt):
        e = set_cc - z.t_cc
        ei = e if e < 500 else 500
        if ei < -500:
            ei = -500
        p = self.kp * e // 100
        i = z.i_u
        d = i // 1000 + p
        # Integrate only while the output is not saturated in the error's direction.
        if not ((d <= 0 and ei < 0) or (d >= FULL and ei > 0)):
            i += self.ki * ei * (dt // 1000) // 6
            if i < 0:
                i = 0
            elif i > 1000000:
                i = 1000000
            z.i_u = i
            d = i // 1000 + p
        if d < 0:
            return 0
        return d if d < FULL else FULL

    def _relay(self, z, d, dt):
        # Sigma-delta: the relay's average follows d, within its minimum on and off times.
        if z.relay_ms < 0x3FFFFFF:
            z.relay_ms += dt
        on = z.relay_on
        z.sd_acc += (d - (FULL if on else 0)) * (dt // 1000)
        if z.sd_acc > 600000:
            z.sd_acc = 600000
        elif z.sd_acc < -600000:
            z.sd_acc = -600000
        if on:
            if (d == 0 or z.sd_acc < 0) and z.relay_ms >= z.min_on_ms:
                z.relay_on = 0
                z.relay_ms = 0
        elif d > 0 and (d == FULL or z.sd_acc > 0) and z.relay_ms >= z.min_off_ms:
            z.relay_on = 1
            z.relay_ms = 0
        return FULL if z.relay_on else 0

    # -- day rollover and energy accounting -------------------------------------------

    def _account(self, dt):
        for z in self.zones:
            p_mw = z.heater_w * z.duty
            if p_mw:
                z.mws += p_mw * (dt // 1000) + p_mw * (dt % 1000) // 1000
                if z.mws >= 3600000:
                    z.wh += z.mws // 3600000
                    z.mws %= 3600000
        if self.session or self.tod_s < 0:
            return
        if not self.heated:
            for z in self.zones:
                if z.preheat and z.duty:
                    self.heated = 1
        lam = self.arrivals.rate_at(self.tod_s)
        x = lam * dt // 3600
        self.expect_u += x
        if self.ready_s > self.wait_s:
            # An arrival now would wait longer than allowed (with wait_s 0: charging held).
            self.risk_u += x

    def _missed(self):
        # A real miss that puts the past weeks over budget raises V at once (not at midnight):
        # with the daily step alone a cold spell spends the budget several mornings running (the
        # misses are priced risks, not model errors; docs/thermal.md, "Frostgrid with V fixed").
        if self.v_learn and ((self.miss_m + 1000 * self.miss_day) * 1000
                             > (self.arr_m + 1000 * self.arr_day) * self.budget_pm):
            self.value_wh += self.value_wh // 4 + 10
            if self.value_wh > _V_MAX:
                self.value_wh = _V_MAX

    def _new_day(self):
        # Hold the expected share of arrivals that wait too long within the budget, counted over
        # the past weeks (decay 31/32 a day) rather than per day: misses are then spent on the
        # cold spells, where holding costs most, and mild days do not talk V down to nothing.
        self.risk_m = self.risk_m * 31 // 32 + self.risk_u // 1000
        self.expect_m = self.expect_m * 31 // 32 + self.expect_u // 1000
        self.arr_m = self.arr_m * 31 // 32 + self.arr_day * 1000
        self.miss_m = self.miss_m * 31 // 32 + self.miss_day * 1000
        took = self.risk_u > 0 or self.miss_day > 0
        self.risk_u = 0
        self.expect_u = 0
        self.arr_day = 0
        self.miss_day = 0
        e = self.expect_m
        # V moves only when it mattered: up after a day that took a risk while over budget, down
        # after a day that cost heat while under; otherwise it stays put, so that it neither
        # winds up while no risk is taken nor runs down on mild days.
        if e > 0 and self.v_learn and self.arrivals.mature():
            # Over budget by the model's estimate or by the arrivals that really waited too long
            # (the estimate misses what the model gets wrong; real misses are few and late).
            if (self.risk_m * 1000 > e * self.budget_pm
                    or self.miss_m * 1000 > self.arr_m * self.budget_pm):
                if took:
                    self.value_wh += self.value_wh // 8 + 5
                if self.value_wh > _V_MAX:
                    self.value_wh = _V_MAX
            elif took or self.heated:
                self.value_wh -= self.value_wh // 16
                if self.value_wh < 1:
                    self.value_wh = 1
        self.heated = 0

    # -- reports (allocate: call on change, not in a loop) ------------------------------

    def alarms(self):
        # Active alarms as short codes with the zone: ["SensorOpen:electronics", ...].
        out = []
        for z in self.zones:
            for bit, code in ALARM_CODES:
                if z.fault & bit:
                    out.append(code + ":" + z.name)
        return out

    def reason(self, guards=_CHARGE_GUARDS):
        # Why the given outputs are held, for StatusNotification info / vendorErrorCode, or None.
        for z in self.zones:
            if z.guard & guards and not z.ready:
                if z.unsafe:
                    for bit, code in ALARM_CODES:
                        if z.fault & bit:
                            return code + ":" + z.name
                    return "SensorOpen:" + z.name
                return "ColdInterlock:%s %.1fC" % (z.name, z.t_cc / 100)
        return None

    def temps_c(self):
        # [(zone name, temp C or None)] for Temperature measurands.
        return [(z.name, z.t_cc / 100 if z.valid else None) for z in self.zones]

    def energy_wh(self):
        # Heater energy per zone since boot, Wh.
        return [z.wh + z.mws / 3600000 for z in self.zones]

    def models(self):
        # Learned [(zone, (C J/K, UA W/K) or None)].
        return [(z.name, z.model.params()) for z in self.zones]

    def allows(self, guard):
        # guard: 'contactor' | 'display' | 'power'
        return bool(self.allowed & _GUARD_BITS[guard])
