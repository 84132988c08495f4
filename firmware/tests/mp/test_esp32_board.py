# The ESP32 board on a stand-in `machine` (fake_machine.py): pin map from configuration, pilot
# voltage bands, current offered on the pilot, RFID reader, clock.
import asyncio
import sys

import fake_machine

sys.modules['machine'] = fake_machine
from board.esp32 import Esp32Board, cp_from_mv  # noqa: E402 (needs the stand-in `machine` first)


class _Config:
    def __init__(self, pins):
        self.pins = pins

    def get(self, key):
        assert key == 'esp32_pins'
        return self.pins


def _board(pins=None, **station):
    fake_machine.made[:] = []
    b = Esp32Board(station, _Config(pins or {}))
    asyncio.run(b.start())
    return b


def _pin(n):
    return [p for p in fake_machine.made if isinstance(p, fake_machine.Pin) and p.n == n][-1]


def test_pin_map_comes_from_configuration():
    b = _board({'contactor': 5, 'lock': 18, 'cp_pwm': 19, 'cp_adc': 34})
    b.set_contactor(True)
    assert _pin(5).value() == 1 and b.contactor()
    b.set_lock(True)
    assert _pin(18).value() == 1
    pwm = [p for p in fake_machine.made if isinstance(p, fake_machine.PWM)][0]
    adc = [p for p in fake_machine.made if isinstance(p, fake_machine.ADC)][0]
    assert pwm.pin.n == 19 and pwm.freq == 1000 and adc.pin.n == 34


def test_pilot_voltage_bands_map_to_states():
    assert [cp_from_mv(mv) for mv in (12000, 9000, 6000, 3000, 0, -12000)] == list('ABCDEF')


def test_pilot_high_level_read_through_the_divider():
    b = _board()
    # +6 V high phase and -12 V low phase of the PWM: the board takes the high level
    hi_uv = (6000 + 12000) * 1000000 // 7273
    fake_machine.ADC.uv = [0, hi_uv, 0, hi_uv]
    asyncio.run(b.poll())
    assert b.cp_state() == 'C'


def test_current_offered_on_the_pilot_only_while_locked_for_a_session():
    b = _board(max_current_a=16)
    pwm = [p for p in fake_machine.made if isinstance(p, fake_machine.PWM)][0]
    assert pwm.duty == 65535  # steady +12 V
    b.set_lock(True)
    assert abs(pwm.duty * 100 // 65535 - 26) <= 1  # 16 A -> 26.7 % duty
    b.set_lock(False)
    assert pwm.duty == 65535


def test_rfid_card_read_once():
    b = _board({'rfid_uart': 2, 'rfid_rx': 16, 'rfid_tx': 17})
    fake_machine.UART.rx = b'\x020415ab77c9\x03'
    asyncio.run(b.poll())
    assert b.take_id_tag() == '0415AB77C9'
    assert b.take_id_tag() is None


def test_meter_values_from_the_meter_source_hook():
    b = _board()
    b.meter_source = lambda: (1234, 7000)
    asyncio.run(b.poll())
    assert b.meter() == (1234, 7000)


def test_clock_and_watchdog():
    b = _board()
    b.set_time(1768888800)
    assert fake_machine.RTC.set_to[:3] == (2026, 1, 20) and fake_machine.RTC.set_to[4] == 6
    b.feed_wdt()
    assert [w for w in fake_machine.made if isinstance(w, fake_machine.WDT)][0].feeds == 1
