# Charging profiles (profiles.py): stacking, kinds, validity, units and the composite schedule as
# OCPP 1.6 Smart Charging defines them, and the store on flash (runs in MicroPython).
import os

import profiles as pr

T0 = 1768888800  # 2026-01-20T06:00:00Z, a Tuesday
V = 230
CPMAX, TXDEF, TX = 0, 1, 2
ABS, DAILY, WEEKLY, REL = 0, 1, 2, 3
A, W = 0, 1


def prof(pid=1, cid=1, purpose=TXDEF, stack=0, kind=ABS, vfrom=0, vto=0, start=T0, dur=0, unit=W,
         minr=0, txid=0, periods=((0, 11000),)):
    flat = []
    for per in periods:
        flat.extend((per[0], per[1] * 10, per[2] if len(per) > 2 else 3))
    return (pid, cid, purpose, stack, kind, vfrom, vto, start, dur, unit, minr * 10, txid, tuple(flat))


def lim(profs, t, txid=None, tx_s=None):
    return pr.limit(profs, t, 1, txid, tx_s, V)


def test_no_profile_leaves_no_limit():
    assert lim([], T0) == (None, 0)


def test_stacking_takes_the_highest_stack_level_valid_now():
    ps = [prof(1, stack=0, periods=((0, 11000),)), prof(2, stack=3, periods=((0, 4000),)),
          prof(3, stack=1, periods=((0, 7000),))]
    assert lim(ps, T0)[0] == 4000


def test_a_higher_stack_level_not_yet_valid_leaves_the_lower_one_until_valid_from():
    ps = [prof(1, stack=0, periods=((0, 11000),)), prof(2, stack=5, vfrom=T0 + 600, periods=((0, 2000),))]
    assert lim(ps, T0) == (11000, T0 + 600)
    assert lim(ps, T0 + 600)[0] == 2000


def test_a_profile_past_valid_to_no_longer_applies():
    ps = [prof(1, stack=0, periods=((0, 11000),)), prof(2, stack=5, vto=T0 + 900, periods=((0, 2000),))]
    assert lim(ps, T0) == (2000, T0 + 900)
    assert lim(ps, T0 + 900)[0] == 11000


def test_absolute_periods_change_the_limit_at_their_start_and_say_when():
    ps = [prof(periods=((0, 6000), (900, -3000), (1800, 0)))]
    assert lim(ps, T0 + 10) == (6000, T0 + 900)
    assert lim(ps, T0 + 900) == (-3000, T0 + 1800)
    assert lim(ps, T0 + 5000) == (0, 0)


def test_an_absolute_schedule_ends_after_its_duration():
    ps = [prof(dur=600, periods=((0, 5000),))]
    assert lim(ps, T0 + 599) == (5000, T0 + 600)
    assert lim(ps, T0 + 600) == (None, 0)
    assert lim(ps, T0 - 1) == (None, T0)


def test_daily_recurring_repeats_every_day_from_its_start():
    ps = [prof(kind=DAILY, start=T0, dur=3600, periods=((0, 3000), (1800, 1000)))]
    day = 86400
    assert lim(ps, T0 + 3 * day + 100) == (3000, T0 + 3 * day + 1800)
    assert lim(ps, T0 + 3 * day + 2000)[0] == 1000
    assert lim(ps, T0 + 3 * day + 3600) == (None, T0 + 4 * day)


def test_weekly_recurring_repeats_every_week():
    ps = [prof(kind=WEEKLY, start=T0, dur=7200, periods=((0, 2500),))]
    assert lim(ps, T0 + 86400)[0] is None
    assert lim(ps, T0 + 2 * 604800 + 60)[0] == 2500


def test_relative_profile_counts_from_the_transaction_start_and_needs_one():
    ps = [prof(kind=REL, start=0, periods=((0, 7000), (60, 3000)))]
    assert lim(ps, T0)[0] is None
    assert lim(ps, T0 + 30, tx_s=T0) == (7000, T0 + 60)
    assert lim(ps, T0 + 1000, tx_s=T0 + 950) == (7000, T0 + 1010)


def test_limits_in_amps_become_watts_with_the_configured_voltage_and_phases():
    ps = [prof(unit=A, periods=((0, 16, 3),))]
    assert lim(ps, T0)[0] == 16 * V * 3
    ps = [prof(unit=A, periods=((0, 10, 1),))]
    assert lim(ps, T0)[0] == 10 * V


def test_a_negative_limit_in_amps_is_zero_discharge_is_asked_in_watts_only():
    assert lim([prof(unit=A, periods=((0, -16, 3),))], T0)[0] == 0


def test_a_limit_below_the_min_charging_rate_pauses_charging():
    assert lim([prof(minr=1400, periods=((0, 1000),))], T0)[0] == 0
    assert lim([prof(minr=1400, periods=((0, 1500),))], T0)[0] == 1500


def test_tx_profile_overrides_tx_default_and_only_during_its_transaction():
    ps = [prof(1, purpose=TXDEF, stack=7, periods=((0, 9000),)),
          prof(2, purpose=TX, stack=0, txid=42, periods=((0, 2000),))]
    assert lim(ps, T0)[0] == 9000  # no transaction running
    assert lim(ps, T0, txid=42, tx_s=T0)[0] == 2000
    assert lim(ps, T0, txid=43, tx_s=T0)[0] == 9000  # another transaction


def test_charge_point_max_profile_caps_both_directions():
    cap = prof(9, cid=0, purpose=CPMAX, periods=((0, 5000),))
    assert lim([cap, prof(periods=((0, 11000),))], T0)[0] == 5000
    assert lim([cap, prof(periods=((0, -8000),))], T0)[0] == -5000
    assert lim([cap, prof(periods=((0, -2000),))], T0)[0] == -2000
    assert lim([prof(9, cid=0, purpose=CPMAX, periods=((0, 0),)), prof(periods=((0, -3000),))], T0)[0] == 0


def test_a_connectors_own_default_beats_the_one_of_connector_zero():
    ps = [prof(1, cid=0, stack=5, periods=((0, 8000),)), prof(2, cid=1, stack=0, periods=((0, 3000),))]
    assert lim(ps, T0)[0] == 3000


def test_composite_schedule_merges_equal_neighbours_and_fills_with_the_default():
    ps = [prof(1, dur=1800, periods=((0, 6000), (600, 6000), (1200, -2000))),
          prof(2, cid=0, purpose=CPMAX, vfrom=T0 + 2400, periods=((0, 4000),))]
    out = pr.composite(ps, T0, 3600, 1, None, None, V, 22000)
    assert out == [(0, 6000), (1200, -2000), (1800, 22000), (2400, 4000)], out


def test_install_replaces_by_id_and_by_stack_level_and_purpose_within_the_limit():
    ps = []
    assert pr.install(ps, prof(1, stack=0), 2)
    assert pr.install(ps, prof(2, stack=1), 2)
    assert not pr.install(ps, prof(3, stack=2), 2)  # full
    assert pr.install(ps, prof(1, stack=2, periods=((0, 1),)), 2)  # same id
    assert pr.install(ps, prof(4, stack=1), 2)  # same stack level and purpose as id 2
    assert sorted(p[0] for p in ps) == [1, 4]


def test_clear_by_id_or_by_criteria():
    ps = [prof(1, stack=0), prof(2, stack=1), prof(3, cid=0, purpose=CPMAX, stack=1)]
    assert pr.clear(ps, 7) == 0
    assert pr.clear(ps, None, None, None, 1) == 2
    assert [p[0] for p in ps] == [1]
    assert pr.clear(ps) == 1 and ps == []


def test_profiles_survive_a_reboot_but_a_transactions_profile_does_not():
    for f in ('p.json', 'p.json.tmp'):
        try:
            os.remove(f)
        except OSError:
            pass
    assert pr.load('p.json') == []
    ps = [prof(1, periods=((0, 6000), (900, -3000))), prof(2, purpose=TX, txid=5)]
    pr.save(ps, 'p.json')
    assert pr.load('p.json') == ps[:1]
    with open('p.json.tmp', 'w') as f:
        f.write('[[1, 2')  # a save cut short by a power loss
    assert pr.load('p.json') == ps[:1]
    pr.end_tx(ps, 'p.json')
    assert ps == [ps[0]] and pr.load('p.json') == ps
