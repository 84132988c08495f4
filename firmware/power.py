# The setpoint executor: the power the board lets the EV take (positive, import) or give
# (negative, export), decided every control step by one arbitration chain, first match wins:
#   1 safety         contactor not wanted or a fault            -> 0 at once
#   2 cold interlock electronics too cold to carry current      -> 0 at once; and the soft start
#                    of an EV restarting after a trip in the cold (app_cold.py, restart.py): at
#                    most soft_pct % of what 3-5 allow
#   3 hardware       never beyond +-max_w (station.json max_power_w)
#   4 OCPP profiles  the composite limit of the charging profiles (profiles.py); a negative limit
#                    (Frostgrid's discharge extension, docs/v2g-ocpp16-extension.md) is a discharge
#                    setpoint only when the station can discharge, the EV can (the board says so)
#                    and its SoC is above the reserve; else it counts as 0 (charging only reduced)
#   5 default        max_w when no profile applies
# Charge-only fall-back: a link lost longer than station.json link_loss_fallback_s turns a
# discharge limit into the default (the EV charges again); a profile that ends does so by itself.
# Changes are ramped at station.json ramp_w_per_s, except the cuts of 1 and 2.
# Resident and small: step() allocates nothing. The profiles' limit is recomputed
# (profiles.update, loaded for it) only when it may have changed: a profile set or cleared
# (whoever changes `profiles` sets `end` to -1), a transaction started or ended, or the time the
# last computation said it would change. (Names are few and mostly shared with other modules:
# every new one is a qstr held for good.)
from micropython import const
from time import ticks_diff

import lazy

# cfg by index (ocpp16_sc reads the same indices)
_MAX_W = const(0)  # hardware limit, both directions, W
_CAPABLE = const(2)  # FrostgridDischargeCapable (1: phase voltage for limits in A)
_RAMP = const(3)  # W/s
_FALLBACK_S = const(4)  # link loss before charge-only
_RESERVE = const(5)  # SoC %: no discharge at or below it


class Power:
    # Built at boot by profiles.setup(Power(), cfg) (loaded for it: this module keeps only the
    # step). The state, all set there:
    #   cfg        (max_w, volts, capable, ramp_w_per_s, fallback_s, reserve_soc_pct)
    #   profiles   installed charging profiles, compact tuples (profiles.py)
    #   limit      the profiles' composite limit in W; None = no profile applies
    #   max        what charge-only charges at: max_w, or less under a ChargePointMaxProfile
    #   end        Unix s when the limit must be recomputed; 0 = only on a change, -1 = now
    #   tx, txid   the transaction the limit was computed for (ocpp16 local id, 0 = none) and its
    #              transactionId at the backend; start: Unix s it started (Relative profiles)
    #   value      the setpoint handed to the board, W
    #   t0         ticks of the last step, None before the first
    #   hold       ticks the link went down; None = up
    #   soc_pct    the EV's state of charge as last seen, -1 unknown; export_wh the meter's export
    #              register as last seen (both for MeterValues)
    soft_pct = 100  # the soft-start cap, % (set by app_cold.py on a cold station only)

    def step(self, now_ms, now_s, ok, cold, online, tx, txid, soc_pct, ev_v2g, export_wh=0):
        # the setpoint in W for this step. ok: no fault, contactor wanted; cold: the cold interlock
        # holds; tx: the running transaction (0 = none); soc_pct: the EV's SoC, -1 unknown;
        # ev_v2g: the EV accepts discharge; export_wh: the meter's export register
        cfg = self.cfg
        self.soc_pct = soc_pct
        self.export_wh = export_wh
        end = self.end
        if end < 0 or (end and now_s >= end) or tx != self.tx or txid != self.txid:
            lazy.call('profiles', 'update', self, now_s, tx, txid)  # no heap now: the next step retries
        if online:
            self.hold = None
        elif self.hold is None:
            self.hold = now_ms
        lost = self.hold is not None and ticks_diff(now_ms, self.hold) > cfg[_FALLBACK_S] * 1000
        dt = 0 if self.t0 is None else ticks_diff(now_ms, self.t0)
        self.t0 = now_ms
        if not ok or cold:
            self.value = 0
            return 0
        top = cfg[_MAX_W]
        w = top if self.limit is None else self.limit
        if w < 0 and not (cfg[_CAPABLE] and ev_v2g and soc_pct > cfg[_RESERVE] and not lost):
            w = self.max if lost else 0
        if w > top:
            w = top
        elif w < -top:
            w = -top
        if self.soft_pct < 100:
            w = w * self.soft_pct // 100
        room = cfg[_RAMP] * dt // 1000
        if w > self.value + room:
            w = self.value + room
        elif w < self.value - room:
            w = self.value - room
        self.value = w
        return w
