# The ESP32 board's cold-region calls on a stand-in `machine` (fake_machine.py): thermistor ADCs
# scaled to 12-bit counts, heater PWM, the meter's RS-485 UART with driver enable, clocks.
import asyncio
import sys

import fake_machine

sys.modules['machine'] = fake_machine
from board.esp32 import Esp32Board  # noqa: E402 (needs the stand-in `machine` first)


class _Config:
    def __init__(self, pins):
        self.pins = pins

    def get(self, key):
        return self.pins


def _board(pins=None, **station):
    fake_machine.made[:] = []
    b = Esp32Board(station, _Config(pins or {}))
    asyncio.run(b.start())
    return b


def _made(kind):
    return [m for m in fake_machine.made if isinstance(m, kind)]


def test_thermistors_are_read_only_when_zones_are_configured():
    _board()
    assert len(_made(fake_machine.ADC)) == 1, 'only the pilot ADC without zones'
    _board(thermal={'zones': []})
    assert [a.pin.n for a in _made(fake_machine.ADC)][1:] == [32, 33, 34, 35]


def test_thermistor_microvolts_become_12_bit_counts_of_the_divider_supply():
    b = _board({'ntc': (36, 39)}, thermal={'zones': []})
    fake_machine.ADC.uv = [1650000]  # half the 3.3 V supply
    asyncio.run(b.poll())
    assert list(b.adc_counts()) == [2047, 2047]
    fake_machine.ADC.uv = [3400000]  # over full scale (an open thermistor): clamped
    asyncio.run(b.poll())
    assert b.adc_counts()[0] == 4095
    fake_machine.ADC.uv = [0]


def test_heater_duty_per_mille_drives_a_slow_pwm_on_the_configured_pin():
    b = _board({'heater': (21, 22), 'heater_hz': 1})
    assert not _made(fake_machine.PWM)[1:], 'heater outputs are made on first use'
    b.set_heater(1, 500)
    pwm = _made(fake_machine.PWM)[-1]
    assert pwm.pin.n == 22 and pwm.freq == 1 and pwm.duty == 32767 and b.heater(1) == 500
    b.set_heater(1, 1000)
    assert pwm.duty == 65535
    b.reset(True)
    assert pwm.duty == 0, 'a reset leaves no heater on'


def test_meter_bus_is_the_configured_uart_with_driver_enable_low():
    b = _board({'meter_uart': 1, 'uart_tx': 10, 'uart_rx': 9, 'rs485_de': 5})
    uart, de = b.rs485(19200)
    assert uart.n == 1 and uart.pins == (9, 10)
    assert de.n == 5 and de.value() == 0
    assert b.rs485(19200)[0] is uart, 'one UART for the life of the board'


def test_thermal_clock_and_time_of_day():
    b = _board(tz_s=28800)
    assert 0 <= b.thermal_ms() < 0x40000000
    t = b.now_s()
    if t > 1600000000:
        assert b.tod_s() == (t + 28800) % 86400
    else:
        assert b.tod_s() == -1, 'unknown before the clock was set'
