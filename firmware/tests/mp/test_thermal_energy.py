# Thermal controller in MicroPython: energy-aware control (standby, demand, pre-heat), learning,
# energy accounting, and the step's memory discipline.
import gc
import thermal
from cases_thermal import MIN, Plant, cfg, day, quiet_night_pattern, run


def test_duty_is_always_a_valid_per_mille():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-45.0, -45.0, -45.0], amb=-45.0)
    now = 0
    for m in range(600):
        now += MIN
        if m % 97 == 0:
            ctl.demand(now)
        ctl.step(plant.counts(), now, (m * 60) % 86400)
        for d in ctl.duty:
            assert 0 <= d <= 1000
        plant.step(ctl.duty, 60)


def test_step_allocates_nothing():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-30.0, -30.0, -30.0])
    counts = plant.counts()
    now = [0]

    def run(n):
        t = now[0]
        for i in range(n):
            t += MIN
            ctl.step(counts, t & 0x3FFFFFFF, (i * 60) % 86400)
        now[0] = t

    run(40)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        run(200)
        after = gc.mem_alloc()
    finally:
        gc.enable()
    assert after == before, after - before


def test_controller_fits_the_heap_budget():
    gc.collect()
    before = gc.mem_alloc()
    ctl = thermal.Thermal(cfg())
    gc.collect()
    assert gc.mem_alloc() - before < 20000
    assert ctl.n == 3


def test_tick_wraparound_is_a_small_step():
    assert thermal.ticks_diff(5, 0x3FFFFFFF - 4) == 10
    assert thermal.ticks_diff(0x3FFFFFFF - 4, 5) == -10
    ctl = thermal.Thermal(cfg())
    plant = Plant([-30.0, -30.0, -30.0])
    ctl.step(plant.counts(), 0x3FFFFFFF - 29999, -1)
    ctl.step(plant.counts(), 30000, -1)
    # 60 s at full duty on electronics: 60 W x 60 s = 1 Wh
    e = ctl.energy_wh()[0]
    assert abs(e - 1.0) < 0.01, e


def test_heater_energy_is_accounted_in_wh():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-30.0, -10.0, -10.0], amb=-30.0)
    plant.dead[0] = True     # stays cold, heater stays full
    run(ctl, plant, 10)
    # Steps 2..10 apply full duty for 60 s each: 9 x 1 Wh.
    assert abs(ctl.energy_wh()[0] - 9.0) < 0.05, ctl.energy_wh()


def test_demand_heats_to_operating_temperature_and_records_the_arrival():
    hist = quiet_night_pattern()
    ctl = thermal.Thermal(cfg(), hist)
    plant = Plant([-34.0, -34.0, -34.0], amb=-35.0)
    now = run(ctl, plant, 3, tod=3 * 3600)
    n0 = hist.count()
    ctl.demand(now)
    now = run(ctl, plant, 240, now=now, tod=3 * 3600, until=lambda a: a & thermal.G_CONTACTOR)
    assert ctl.allowed & thermal.G_CONTACTOR
    assert hist.count() == n0 + 1
    assert plant.t[2] > -34.0      # the display heats on demand too


def test_standby_lets_zones_drift_in_quiet_hours_and_preheats_before_busy_hours():
    ctl = thermal.Thermal(cfg(wait_value_wh=200), quiet_night_pattern())
    plant = Plant([-18.0, -28.0, -18.0], amb=-35.0)
    # Learn the zone model for a day first (heat-ups and drifts happen on their own).
    now, _ = day(ctl, plant, 0, 24, 0)
    e0 = ctl.energy_wh()[0]
    now, allowed = day(ctl, plant, 0, 24, now)
    night = allowed[60:240]          # 01:00 to 04:00
    busy = allowed[435:1200]         # 07:15 to 20:00
    assert not all(night), "no drift in the quiet night"
    assert all(busy), "not ready in the busy hours"
    # Holding all day would cost UA x (T_hold - T_amb) - internal heat, for 24 h.
    hold_wh = (1.6 * (-19.5 + 35.0) - 3.0) * 24
    assert ctl.energy_wh()[0] - e0 < 0.9 * hold_wh


def test_without_a_learned_pattern_zones_are_kept_ready():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-18.0, -28.0, -18.0], amb=-35.0)
    now, allowed = day(ctl, plant, 0, 24, 0)
    assert all(allowed[120:])


def test_learns_heater_strength_and_time_constant():
    ctl = thermal.Thermal(cfg(), quiet_night_pattern())
    plant = Plant([-18.0, -28.0, -18.0], amb=-30.0)
    for d in range(3):
        plant.amb = -30.0 - 5 * (d % 2)
        day(ctl, plant, 0, 24, d * 86400000)
    m = ctl.zones[0].model
    assert m.na >= 1 and m.nb >= 1, "nothing learned: only the priors"
    c, ua = ctl.models()[0][1]
    assert 0.7 * 8000 < c < 1.3 * 8000, c
    assert 0.5 * 1.6 < ua < 1.6 * 1.6, ua
