# ColdSimBoard: the sim board of a station with heated zones or a Modbus meter (station.json
# `thermal` / `meter`): the cold-region calls of the board interface (docs/interfaces.md §1.2) over
# the plant link (§1.3). Thermistor counts, the plant's thermal clock and its time of day come
# with every `get`; heater duties go out in a `set` when one changed and after every reconnect;
# the RS-485 bus is a second connection carrying raw Modbus RTU bytes (board/sim_uart.py).
# Channels are the plant's: one per zone, then (hil_tests/plant_cold.py `ambient_channel`) an
# ambient thermistor on a spare one, read like the others (thermal `ambient_sensor`).
# A subclass in a module of its own, so that a station without them loads none of this.
import json
from array import array
from micropython import const
from time import ticks_ms

from board.sim import SimBoard

_CHANNELS = const(8)  # thermistor inputs and heater outputs of the sim board
_TICK_MASK = const(0x3FFFFFFF)


class ColdSimBoard(SimBoard):
    def __init__(self, station, config=None):
        super().__init__(station, config)
        self.tz_s = station.get('tz_s', 28800)
        self._adc = array('H', [0] * _CHANNELS)  # raw counts per thermistor channel, as last read
        self._heat = array('H', [0] * _CHANNELS)  # heater duty per mille, as commanded
        self._tms = -1  # the plant's thermal clock (ms tick), -1: the plant has none
        self._tod = -1
        self._uart = None

    async def _connect(self):
        await super()._connect()
        if self.linked:
            self._tell()  # a restarted plant has not heard the duties

    def _tell(self):
        self._more = '{"op":"set","heat":%s}' % json.dumps(list(self._heat))

    def _got(self, r):
        adc = r.get('adc')
        if adc:
            a = self._adc
            for i in range(min(len(adc), _CHANNELS)):
                a[i] = adc[i]
            self._tms = r.get('tms', -1)
            self._tod = r.get('tod', -1)

    def adc_counts(self):
        return self._adc

    def set_heater(self, ch, duty_pm):
        if self._heat[ch] != duty_pm:
            self._heat[ch] = duty_pm
            self._tell()

    def heater(self, ch):
        return self._heat[ch]

    def rs485(self, baud=9600):
        # the meter bus: a UART over a second plant connection (no driver-enable pin)
        if self._uart is None:
            from board.sim_uart import SimUart
            self._uart = SimUart(self.host, self.port, self.id)
        return self._uart, None

    def thermal_ms(self):
        return self._tms if self._tms >= 0 else ticks_ms() & _TICK_MASK

    def tod_s(self):
        if self._tms >= 0:
            return self._tod
        return (self.now_s() + self.tz_s) % 86400 if self._clock_set else -1
