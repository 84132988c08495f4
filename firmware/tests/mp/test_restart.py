# Restart back-off and soft-start ramp in MicroPython.
from restart import RestartGuard


def test_restart_guard_backs_off_exponentially():
    g = RestartGuard(base_ms=30000, max_ms=240000, max_tries=10)
    assert g.may_close(0)
    g.closed(0)
    assert g.trip(1000) == 30000
    assert not g.may_close(20000)
    assert g.may_close(31000)
    g.closed(31000)
    assert g.trip(32000) == 60000
    g.closed(100000)
    assert g.trip(101000) == 120000
    g.closed(300000)
    assert g.trip(301000) == 240000
    g.closed(600000)
    assert g.trip(601000) == 240000     # capped


def test_restart_guard_gives_up_instead_of_cycling_the_contactor():
    g = RestartGuard(base_ms=1000, max_ms=8000, max_tries=4)
    now = 0
    closes = 0
    for _ in range(1000):
        now += 1000
        if g.may_close(now):
            closes += 1
            g.closed(now)
            g.trip(now + 500)
    assert closes == 4
    assert g.gave_up()
    g.reset()
    assert g.may_close(now)


def test_restart_guard_forgets_trips_after_a_quiet_period():
    g = RestartGuard(base_ms=30000, quiet_ms=900000)
    g.closed(0)
    g.trip(1000)
    g.closed(40000)
    g.trip(41000)
    g.closed(200000)
    assert g.trip(200000 + 900000) == 30000


def test_soft_start_ramps_the_current_limit():
    g = RestartGuard(ramp_ms=120000, start_pct=25)
    assert g.limit_pct(0) == 0
    g.closed(1000)
    assert g.limit_pct(1000) == 25
    assert 55 < g.limit_pct(61000) < 70
    assert g.limit_pct(121000) == 100
