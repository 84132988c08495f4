# Cold-region wiring (issue 3): the thermal controller and the Modbus meter between the board,
# the connector and the OCPP core. When station.json has `thermal` and/or `meter` (docs/
# interfaces.md §1.1) app_boot builds a Cold through app_cold_make (loaded for that); without them
# none of this is loaded and the firmware behaves as before. Resident while configured, and kept
# small: only what runs every step is here.
#   step(now)    every control step (app._control, after the connector saw the pilot): thermal
#                step on the board's thermal clock -> heater outputs; a change of interlock,
#                alarms or meter health -> app_cold_evt.evaluate (connector hold / fault with
#                Frostgrid's vendor codes, §1.6); a dead meter ends the running transaction;
#                periodic reports (app_cold_evt.report)
#                an EV that trips while charging (pilot E/F with the contactor closed) is held off
#                by the restart back-off (restart.RestartGuard: 30 s, 60 s, ... then it gives up
#                until the EV is unplugged) instead of cycling the contactor; after such a trip
#                the EV restarts soft: the power executor (power.py, its cold interlock tier)
#                caps the limit at RestartGuard.cap_pct, 25 % at the close rising to 100 % over
#                the ramp (station.json restart.ramp_s)
#   run_meter()  a task: one Modbus read cycle every interval_ms
#   reading()    (energy_wh, power_w) for the OCPP core: the meter's last good registers
#   core         set by app_boot once the OCPP core exists: the thresholds persisted as OCPP
#                configuration keys are applied then, and the core's Config answers those keys
#                too (app_cold_keys.py, loaded for each of these; docs/thermal.md "Configuration
#                keys")
# The step allocates nothing while nothing changes; what allocates (reason texts, reports) is in
# app_cold_evt, loaded for each call.
import asyncio
from micropython import const
from time import ticks_add, ticks_diff

import lazy
from log import log

_SAVE_MS = const(3600000)  # the learned arrival pattern and thermal model go to flash hourly
_EVT = const('app_cold_evt')
_KEYS = const('app_cold_keys')
_TICK_MASK = const(0x3FFFFFFF)  # RestartGuard's ticks wrap at 2**30, as ticks_ms does


class Cold:
    def __init__(self, app):
        self.app = app
        self.board = app.board
        self.conn = app.conn
        self._core = None  # the OCPP core (the property core), set by app_boot once it exists
        self.ctl = None  # thermal.Thermal, or None without zones
        self.mtr = None  # meter.Meter, or None without a Modbus meter
        self.bus = None  # its modbus.Bus
        self.interval_ms = 1000
        self.heater_ch = b''  # heater output channel per zone
        self.names = self.loc = self.charge_zones = None  # zone names, report locations, guarding zones
        self.code = None  # vendorErrorCode reported on connector 1 now (None = none)
        self.code0 = None  # vendorErrorCode reported on connector 0 now (display-only zones)
        self.faulted = False  # the connector's fault is ours (set_fault), to be cleared by us
        self.sig = -1  # what the last evaluation saw: alarm_seq << 3 | session << 2 | meter dead << 1 | held
        self.sess = False
        self.guard = None  # restart.RestartGuard
        self.was_closed = False  # the contactor was commanded closed at the last step
        self.pct = 100  # the soft-start cap handed to the power executor
        self.amb = -1  # sensor index of the ambient thermistor (thermal ambient_sensor), -1: none
        self.floor = None  # [global standby floor cc, bit mask of the zones on it] (app_cold_keys)
        self.report_ms = 60000
        self.report_at = 0
        self.save_at = 0

    @property
    def core(self):
        return self._core

    @core.setter
    def core(self, core):
        self._core = core
        if core is not None and self.ctl is not None and getattr(core, 'cfg', None) is not None:
            lazy.call(_KEYS, 'attach', self, core.cfg)

    # the Get/ChangeConfiguration views of the core's Config on this station (app_cold_keys.attach)
    def ocpp_get_json(self, keys=None):
        return lazy.call(_KEYS, 'get_json', self, keys)

    def ocpp_change(self, key, value_str):
        return lazy.call(_KEYS, 'change', self, key, value_str)

    async def run_meter(self):
        m = self.mtr
        while True:
            try:
                await m.read(self.bus)
            except Exception as e:  # keep reading whatever one cycle did
                log('ERROR', 'METER %r' % e)
            await asyncio.sleep_ms(self.interval_ms)

    def reading(self):
        # the last good registers (the billing values, also while the meter is dead)
        m = self.mtr
        if m is None:
            return self.board.meter()
        if m.energy_import_wh is None:
            return 0, 0
        return m.energy_import_wh, m.power_w

    def step(self, now):
        c = self.conn
        ctl = self.ctl
        b = self.board
        sig = 0
        if ctl is not None and not b.linked:
            # no readings (the sim board's plant link is down): keep what was; held at first,
            # never "assume warm"
            sig = self.sig & ~2 if self.sig >= 0 else 1
        elif ctl is not None:
            tms = b.thermal_ms()
            sess = c.tx_active or c.authorized or c.cp in 'BCD'
            if sess != self.sess:
                self.sess = sess
                ctl.set_session(sess)
                if sess:
                    ctl.demand(tms)
            allowed = ctl.step(b.adc_counts(), tms, b.tod_s())
            duty = ctl.duty
            hc = self.heater_ch
            for i in range(ctl.n):
                b.set_heater(hc[i], duty[i])
            # a plug-in re-evaluates too: the hold's info then carries a fresh estimate of the wait
            sig = ctl.alarm_seq << 3 | (4 if sess else 0) | ((allowed & ctl.guards) != ctl.guards)
        g = self.guard
        if g is not None:
            t = now & _TICK_MASK
            closed = b.contactor()
            if c.cp == 'A':
                if g.trips:
                    g.reset()  # a new EV (or the same, re-plugged) starts afresh
            elif c.cp in 'EF':
                if closed and c.tx_active:
                    log('WARN', 'EV_TRIP n=%d wait_ms=%d' % (g.trips + 1, g.trip(t)))
            elif closed and not self.was_closed:
                g.closed(t)
            self.was_closed = closed
            back = c.tx_active and not g.may_close(t)
            if back != (c.limit_w == 0):
                c.set_limit(0 if back else None)  # 0: SuspendedEVSE, the contactor stays open
            pct = g.cap_pct(t)
            if pct != self.pct:
                p = getattr(self._core, 'power', None)
                if p is not None:
                    self.pct = p.soft_pct = pct
        m = self.mtr
        if m is not None and m.dead:
            sig |= 2
        if sig != self.sig:
            self.sig = sig
            self.app.cold = bool(sig & 1)  # the power executor's view of the interlock
            lazy.call(_EVT, 'evaluate', self)
        core = self._core
        if sig & 2 and core is not None and core.tx_ltx:
            # billing needs the meter: end the session on its last good register (§1.6)
            log('WARN', 'METER_DEAD_STOP %s' % m.reason)
            core.tx('stop', 'Other', None, now)
        if ticks_diff(now, self.report_at) >= 0:
            self.report_at = ticks_add(now, self.report_ms)
            try:
                lazy.call(_EVT, 'report', self)
            except Exception as e:  # a report is not worth the control step (no heap now)
                log('WARN', 'REPORT %r' % e)
        if ctl is not None and ticks_diff(now, self.save_at) >= 0:
            self.save_at = ticks_add(now, _SAVE_MS)
            lazy.call(_EVT, 'save_learned', self)
