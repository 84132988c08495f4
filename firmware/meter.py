# Energy meter over Modbus RTU: register plan, decoding to SI units, register sanity and health.
#
# Sign convention (Frostgrid-wide): positive power is import (charging), negative is export.
# A meter mounted reversed (`invert`) has its power negated and its import/export registers swapped.
#
# The core is pure: begin() / decode(block, buf) / commit(now_ms) or fail(now_ms, reason), with the
# time given as an argument; `read(bus)` is the asyncio shell that runs one cycle over a modbus.Bus.
# Published readings change only when a whole cycle is accepted, so after failures they hold the
# last good values (what billing must use). See docs/metering.md.
from array import array
from micropython import const
import time
import modbus
import meter_models as mm

# flags of the last cycle
F_DECREASE = const(1)   # an energy register went down (not a rollover): rejected
F_JUMP = const(2)       # an energy register rose faster than max_power_w allows: rejected
F_VALUE = const(4)      # NaN/inf, or negative energy: rejected
F_ROLLOVER = const(8)   # an energy register wrapped at its width: accepted, counted on
_REJECT = const(7)

R_DECREASE = "decrease"
R_JUMP = "jump"
R_VALUE = "value"

_ROLL_CAP = const(1 << 29)
_FMAX = 3.5e38   # above float32's largest finite value: only infinity exceeds it
_FMIN = -3.5e38  # elapsed-time accumulator cap (ms), keeps it a small int


class Meter:
    def __init__(self, model, address, invert=False, max_power_w=50000, margin_wh=20,
                 dead_after=3, fc=None, max_gap=64, max_regs=80, rollover_wh=None):
        if isinstance(model, int):
            model = mm.MODELS[model]
        rows = model[3]
        nq = len(rows) // 4
        self.name = model[0]
        self.fc = fc or model[1]
        self.phases = model[2]
        self.address = address
        self.invert = invert
        self.max_power_w = max_power_w  # bounds the energy a cycle may add (jump check)
        self.margin_wh = margin_wh      # register resolution and float32 rounding allowance
        self.dead_after = dead_after    # consecutive failed cycles that make the meter dead
        self._rows = rows
        self._nq = nq
        self._plan(max_gap, max_regs)
        self._st = [None] * nq      # this cycle's values, SI, meter's sign and direction
        self._bad = False           # this cycle produced a non-finite value
        # energy registers, index 0 import / 1 export after `invert`: last good raw Wh, wrap offset
        self._raw_e = [None, None]
        self._off_e = [0, 0]
        self._noff = [0, 0]
        self._roll = [self._rollover(mm.Q_E_IMP, rollover_wh), self._rollover(mm.Q_E_EXP, rollover_wh)]
        if invert:
            self._roll[0], self._roll[1] = self._roll[1], self._roll[0]
        self._el_ms = 0             # ms since the last accepted cycle (summed per cycle, capped)
        self._t_prev = None         # ticks_ms of the previous cycle end
        # published readings (last good cycle); None until the first one
        self.energy_import_wh = None
        self.energy_export_wh = None
        self.power_w = None
        self.current_a = [None] * self.phases
        self.voltage_v = [None] * self.phases
        self.frequency_hz = None
        self.t_ms = None            # ticks_ms of the last good cycle
        # health
        self.healthy = False  # a good reading exists and the meter is not dead
        self.dead = False     # dead_after consecutive failed cycles
        self.fails = 0        # consecutive failed cycles
        # why the last cycle failed: 'timeout', 'crc', 'frame', an exception name
        # ('IllegalDataAddress', ...), 'decrease', 'jump', 'value'; None after a good cycle
        self.reason = None
        self.flags = 0        # F_* of the last cycle
        self.cycles = 0
        self.good = 0
        self.anomalies = 0    # cycles rejected by register sanity
        self.rollovers = 0

    def _rollover(self, q, override):
        kind = self._rows[4 * q + 2]
        t = kind & 7
        if t == mm.T_NONE:
            return 0
        if override is not None:
            return override
        sc = self._rows[4 * q + 3]
        if t == mm.T_U16:
            return (0x10000 * mm.SCALE_NUM[sc]) // mm.SCALE_DEN[sc]
        if t == mm.T_U32:
            return (0x100000000 * mm.SCALE_NUM[sc]) // mm.SCALE_DEN[sc]
        return 0  # floats and signed registers have no width rollover

    def _plan(self, max_gap, max_regs):
        # Group the registers into as few reads as allowed: a gap of at most max_gap unused
        # registers is read through, a read spans at most max_regs. max_gap=0 reads only
        # contiguous registers together (for meters that refuse unmapped addresses).
        rows = self._rows
        items = []
        for q in range(self._nq):
            n = mm.nregs(rows[4 * q + 2])
            if n:
                items.append(((rows[4 * q] << 8) | rows[4 * q + 1], n, q))
        items.sort()
        starts = []
        ends = []
        self._rblk = bytearray(b"\xff" * self._nq)
        for reg, n, q in items:
            if starts and reg - ends[-1] <= max_gap and reg + n - starts[-1] <= max_regs:
                if reg + n > ends[-1]:
                    ends[-1] = reg + n
            else:
                starts.append(reg)
                ends.append(reg + n)
            self._rblk[q] = len(starts) - 1
        self.nblocks = len(starts)
        self._bstart = array("H", starts)
        self._bcount = bytearray(ends[i] - starts[i] for i in range(len(starts)))

    def block_reg(self, i):
        return self._bstart[i]

    def block_count(self, i):
        return self._bcount[i]

    def begin(self):
        self._bad = False

    def decode(self, i, buf, off=3):
        # Decode the registers of read i from buf (a response frame: data at off).
        rows = self._rows
        st = self._st
        base = self._bstart[i]
        for q in range(self._nq):
            if self._rblk[q] != i:
                continue
            r = 4 * q
            o = off + 2 * (((rows[r] << 8) | rows[r + 1]) - base)
            kind = rows[r + 2]
            t = kind & 7
            sc = rows[r + 3]
            num = mm.SCALE_NUM[sc]
            den = mm.SCALE_DEN[sc]
            if t == mm.T_F32:
                v = modbus.f32(buf, o, kind & mm.SWAP)
                if v != v or v > _FMAX or v < _FMIN:  # NaN or infinity
                    self._bad = True
                    st[q] = None
                    continue
                # each float operation allocates: skip the ones a scale of 1 makes useless
                if num != 1:
                    v = v * num
                if den != 1:
                    v = v / den
                if q <= mm.Q_E_EXP:
                    v = int(v + 0.5) if v >= 0 else -int(0.5 - v)
            else:
                if t == mm.T_U16 or t == mm.T_I16:
                    v = modbus.u16(buf, o)
                    if t == mm.T_I16 and v >= 0x8000:
                        v -= 0x10000
                else:
                    v = modbus.u32(buf, o, kind & mm.SWAP)
                    if t == mm.T_I32 and v >= 0x80000000:
                        v -= 0x100000000
                if q <= mm.Q_E_EXP:
                    v = (v * num + den // 2) // den
                else:
                    v = v * num / den
            st[q] = v

    def _tick(self, now_ms):
        self.cycles += 1
        if self._t_prev is not None:
            d = time.ticks_diff(now_ms, self._t_prev)
            if d > 0:
                self._el_ms += d
                if self._el_ms > _ROLL_CAP:
                    self._el_ms = _ROLL_CAP
        self._t_prev = now_ms

    def _check(self, k, raw, allowed):
        # Sanity of energy register k (0 import, 1 export); sets _noff[k]; returns F_* bits.
        off = self._off_e[k]
        self._noff[k] = off
        if raw is None:
            return 0
        if raw < 0:
            return F_VALUE
        last = self._raw_e[k]
        if last is None:
            return 0
        d = raw - last
        f = 0
        if d < 0:
            r = self._roll[k]
            if r and d + r <= allowed:
                d += r
                self._noff[k] = off + r
                f = F_ROLLOVER
            else:
                return F_DECREASE
        if d > allowed:
            return F_JUMP
        return f

    def allowed_wh(self):
        # Largest energy increase accepted now: max_power_w over the time since the last good cycle.
        ds = (self._el_ms + 99) // 100
        return (self.max_power_w * ds + 35999) // 36000 + self.margin_wh

    def commit(self, now_ms):
        # End of a cycle whose reads all succeeded: sanity, then publish. True when accepted.
        self._tick(now_ms)
        if self._bad:
            return self._reject(F_VALUE, R_VALUE)
        st = self._st
        imp = st[mm.Q_E_IMP]
        exp = st[mm.Q_E_EXP]
        if self.invert:
            imp, exp = exp, imp
        allowed = self.allowed_wh()
        f = self._check(0, imp, allowed) | self._check(1, exp, allowed)
        if f & _REJECT:
            if f & F_VALUE:
                return self._reject(F_VALUE, R_VALUE)
            if f & F_DECREASE:
                return self._reject(f, R_DECREASE)
            return self._reject(f, R_JUMP)
        if f & F_ROLLOVER:
            self.rollovers += 1
        self.flags = f
        self._raw_e[0] = imp
        self._raw_e[1] = exp
        self._off_e[0] = self._noff[0]
        self._off_e[1] = self._noff[1]
        self.energy_import_wh = None if imp is None else self._off_e[0] + imp
        self.energy_export_wh = None if exp is None else self._off_e[1] + exp
        p = st[mm.Q_P]
        if p is not None:
            p = int(p + 0.5) if p >= 0 else -int(0.5 - p)
            if self.invert:
                p = -p
        self.power_w = p
        for ph in range(self.phases):
            self.current_a[ph] = st[mm.Q_I1 + ph]
            self.voltage_v[ph] = st[mm.Q_U1 + ph]
        self.frequency_hz = st[mm.Q_F]
        self.t_ms = now_ms
        self._el_ms = 0
        self.good += 1
        self.fails = 0
        self.dead = False
        self.healthy = True
        self.reason = None
        return True

    def _reject(self, flags, reason):
        self.flags = flags
        self.anomalies += 1
        self._failed(reason)
        return False

    def _failed(self, reason):
        self.reason = reason
        self.fails += 1
        if self.fails >= self.dead_after:
            self.dead = True
        self.healthy = self.t_ms is not None and not self.dead

    def fail(self, now_ms, reason):
        # A cycle in which a read failed (reason: modbus.Master.reason()). Readings stay as they are.
        self._tick(now_ms)
        self.flags = 0
        self._failed(reason)

    def rebaseline(self):
        # Forget the energy history (meter replaced or reset, by an operator): the next good
        # cycle is accepted as the new baseline and clears `dead`.
        self._raw_e[0] = None
        self._raw_e[1] = None
        self._off_e[0] = 0
        self._off_e[1] = 0
        self.fails = 0
        self.dead = False
        self.reason = None
        self.healthy = self.t_ms is not None

    def age_ms(self, now_ms):
        # ms since the last good reading, or None.
        if self.t_ms is None:
            return None
        return time.ticks_diff(now_ms, self.t_ms)

    def status(self):
        if self.dead:
            return "dead"
        if self.t_ms is None:
            return "unknown"
        return "suspect" if self.fails else "ok"

    def snapshot(self):
        # Readings and health as a dict (allocates: for logs, tests and diagnostics).
        return {"energy_import_wh": self.energy_import_wh, "energy_export_wh": self.energy_export_wh,
                "power_w": self.power_w, "current_a": list(self.current_a),
                "voltage_v": list(self.voltage_v), "frequency_hz": self.frequency_hz,
                "status": self.status(), "reason": self.reason, "flags": self.flags,
                "healthy": self.healthy, "dead": self.dead, "fails": self.fails}

    async def read(self, bus, ticks_ms=time.ticks_ms):
        # One cycle over a modbus.Bus. Returns True when a new reading was accepted.
        self.begin()
        for i in range(self.nblocks):
            st = await bus.transact(self.address, self.fc, self._bstart[i], self._bcount[i])
            if st != modbus.OK:
                self.fail(ticks_ms(), bus.master.reason())
                return False
            self.decode(i, bus.master.resp)
        return self.commit(ticks_ms())
