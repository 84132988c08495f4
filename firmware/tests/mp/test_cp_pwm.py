# The control pilot's duty cycle for a current limit (cp_pwm.py, IEC 61851-1 Annex A), and the
# ESP32 board applying the setpoint executor's limit through it (on the stand-in `machine`).
import asyncio
import sys

import fake_machine

sys.modules['machine'] = fake_machine
from board.esp32 import Esp32Board  # noqa: E402 (needs the stand-in `machine` first)
from cp_pwm import NO_OFFER, amps_x10, duty_pm, duty_u16, offered_x10  # noqa: E402


def test_six_amps_is_ten_percent_and_less_is_no_offer():
    assert duty_pm(60) == 100 and offered_x10(100) == 60
    assert duty_pm(59) == NO_OFFER and duty_pm(0) == NO_OFFER
    assert offered_x10(NO_OFFER) == 0  # steady +12 V: the EV may not charge
    assert duty_u16(NO_OFFER) == 65535


def test_51_amps_is_85_percent_and_up_to_52_5_amps_stays_51():
    assert duty_pm(510) == 850 and offered_x10(850) == 510
    for a10 in (511, 520, 524, 525, 527):
        assert duty_pm(a10) == 850, a10  # the pilot cannot say 51.1..52.7 A
    assert duty_pm(528) == 851 and offered_x10(851) == 527  # just above 85 %: (d - 64) x 2.5


def test_80_amps_is_96_percent_and_more_is_capped():
    assert duty_pm(800) == 960 and offered_x10(960) == 800
    assert duty_pm(801) == 960 and duty_pm(1000) == 960
    assert duty_pm(600) == 880 and offered_x10(880) == 600  # 60 A on the upper band


def test_never_offers_more_than_the_limit_and_loses_at_most_one_step():
    # every limit from 6 A to 90 A in 0.1 A: the EV reads no more than allowed, and no less than
    # the next lower value the pilot can express (0.06 A below 51 A, 0.25 A above)
    for a10 in range(60, 901):
        pm = duty_pm(a10)
        got = offered_x10(pm)
        assert got <= a10, (a10, pm, got)
        cap = a10 if a10 <= 800 else 800
        if cap < 510 or cap > 527:
            assert cap - got <= 3, (a10, pm, got)
        # the board's 16-bit duty is rounded down too
        assert duty_u16(pm) * 1000 // 65535 <= pm


def test_no_duty_the_standard_reserves_for_other_meanings():
    for a10 in range(0, 1000, 3):
        pm = duty_pm(a10)
        assert pm == NO_OFFER or 100 <= pm <= 960, (a10, pm)  # never 5 % (digital) nor < 8 %


def test_watts_to_amps_per_phase_for_one_and_three_phases():
    assert amps_x10(7360, 1, 230) == 320  # 32 A single phase
    assert amps_x10(11040, 3, 230) == 160  # 16 A on three phases
    assert amps_x10(4139, 3, 230) == 59  # 5.998 A: rounded down, so below 6 A
    assert amps_x10(1380, 1, 230) == 60 and amps_x10(1379, 1, 230) == 59
    assert amps_x10(0, 3, 230) == 0 and amps_x10(-3000, 1, 230) == 0  # discharge: no current


class _Config:
    def get(self, key):
        return {'cp_pwm': 19}


def _board(**station):
    fake_machine.made[:] = []
    b = Esp32Board(station, _Config())
    asyncio.run(b.start())
    pwm = [p for p in fake_machine.made if isinstance(p, fake_machine.PWM)][0]
    assert pwm.pin.n == 19 and pwm.freq == 1000
    return b, pwm


def test_board_offers_the_executors_limit_on_three_phases():
    b, pwm = _board(max_current_a=32, voltage_v=230)
    b.set_limit(11040)  # 16 A per phase
    assert pwm.duty == 65535  # no session yet: steady +12 V
    b.set_lock(True)
    assert b.pilot_pm() == 266 and pwm.duty == duty_u16(266)  # 26.6 %: 15.96 A
    b.set_limit(6900)  # 10 A
    assert b.pilot_pm() == 166
    b.set_limit(100000)  # above the board's rating: its 32 A
    assert b.pilot_pm() == 533


def test_board_on_one_phase_converts_with_one_phase():
    b, pwm = _board(max_current_a=32, phases=1, voltage_v=230)
    b.set_lock(True)
    b.set_limit(7360)  # 32 A
    assert b.pilot_pm() == 533 and offered_x10(b.pilot_pm()) <= 320


def test_board_pauses_below_six_amps_and_for_a_discharge_limit():
    b, pwm = _board(max_current_a=16)
    b.set_lock(True)
    b.set_limit(4000)  # 5.8 A on three phases
    assert pwm.duty == 65535
    b.set_limit(-6000)  # an AC pilot cannot ask the EV to discharge
    assert pwm.duty == 65535
    b.set_limit(4140)  # 6 A
    assert b.pilot_pm() == 100
    b.set_lock(False)
    assert pwm.duty == 65535


def test_board_says_the_ev_cannot_discharge_and_the_station_cannot_either():
    station = {'discharge_capable': True}
    fake_machine.made[:] = []
    b = Esp32Board(station, _Config())
    assert b.ev_v2g is False and b.soc_pct == -1
    # app_boot sets FrostgridDischargeCapable from this same dict after building the board
    assert station['discharge_capable'] is False
