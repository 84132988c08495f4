# Thermal controller in MicroPython: the idle standby below the release threshold (wait_s), the
# estimated time to ready, and the measured service that steers the pre-heat value.
import thermal
from cases_thermal import MIN, Plant, allocated, cfg, day, quiet_night_pattern, run
from zonemodel import ZoneModel

STANDBY = {"wait_s": 60, "hyst_k": 0.2}


def _standby_cfg(**kw):
    c = cfg(**kw)
    for z in c["zones"]:
        z["hyst_k"] = STANDBY["hyst_k"]
    c["wait_s"] = STANDBY["wait_s"]
    return c


def _learned(c, amb=-30.0):
    # A controller that has learned its zones for two days with the day-time arrival pattern.
    ctl = thermal.Thermal(c, quiet_night_pattern())
    plant = Plant([-18.0, -28.0, -18.0], amb=amb)
    now, _ = day(ctl, plant, 0, 24, 0)
    now, _ = day(ctl, plant, 0, 12, now)     # ends at noon, a busy hour
    return ctl, plant, now


def test_model_predicts_a_rise_that_grows_with_time_and_vanishes_against_a_larger_loss():
    m = ZoneModel(60)
    m.b = 600           # cc per 15 min at full duty
    m.l0 = 200
    m.a = 1000
    g30 = m.gain_cc(-2000, -2000, 30)
    g60 = m.gain_cc(-2000, -2000, 60)
    assert g30 > 0 and abs(g60 - 2 * g30) <= 1
    # Warmer than now, the zone loses more: less rise.
    assert m.gain_cc(-2000, -1000, 60) < g60
    m.l0 = 700
    assert m.gain_cc(-2000, -2000, 60) == 0


def test_idle_standby_sits_below_the_release_level_yet_a_plug_in_is_released_within_the_wait():
    ctl, plant, now = _learned(_standby_cfg())
    z = ctl.zones[0]
    rel_c = -20.0 + STANDBY["hyst_k"]
    assert z.mode == 5, "not in standby in a busy hour"
    assert plant.t[0] < rel_c, plant.t[0]
    assert plant.t[0] > -21.0            # close below: within one heater minute
    assert not ctl.allowed & thermal.G_CONTACTOR
    assert 0 < ctl.ready_s <= STANDBY["wait_s"], ctl.ready_s
    # Plug-in: steps of 5 s until released.
    ctl.demand(now)
    ctl.set_session(True)
    waited = 0
    while not ctl.allowed & thermal.G_CONTACTOR:
        now += 5000
        ctl.step(plant.counts(), now, 12 * 3600 + waited // 1000)
        plant.step(ctl.duty, 5)
        waited += 5000
        assert waited <= 60000, "driver waited more than a minute"
    assert plant.t[0] >= -20.0 and plant.t[1] >= -30.0


def test_idle_standby_costs_less_than_holding_released():
    held_cfg = _standby_cfg()
    held_cfg["wait_s"] = 0
    held, plant_h, _ = _learned(held_cfg)
    near, plant_n, _ = _learned(_standby_cfg())
    e_h = held.energy_wh()[0]
    e_n = near.energy_wh()[0]
    assert e_n < e_h, (e_n, e_h)


def test_time_to_ready_is_zero_when_released_and_unknown_without_a_heater_model():
    ctl = thermal.Thermal(_standby_cfg())
    warm = Plant([-10.0, -10.0, -10.0])
    ctl.step(warm.counts(), MIN, -1)
    assert ctl.ready_s == 0
    cold = thermal.Thermal(_standby_cfg())
    plant = Plant([-35.0, -35.0, -35.0])
    cold.step(plant.counts(), MIN, -1)
    assert cold.ready_s > 3600       # no heat-up seen yet: no promise


def test_without_wait_s_idle_zones_stay_released():
    ctl, plant, _ = _learned(cfg())
    assert ctl.allowed & thermal.G_CONTACTOR
    assert plant.t[0] >= -20.0


def test_a_plug_in_that_waits_longer_than_allowed_counts_as_a_miss():
    ctl = thermal.Thermal(_standby_cfg())
    plant = Plant([-35.0, -35.0, -35.0])
    now = run(ctl, plant, 2)
    ctl.demand(now)
    ctl.set_session(True)
    run(ctl, plant, 3, now=now)
    assert ctl.arr_day == 1
    assert ctl.miss_day == 1


def test_a_plug_in_released_at_once_is_no_miss():
    ctl = thermal.Thermal(_standby_cfg())
    plant = Plant([-10.0, -10.0, -10.0])
    now = run(ctl, plant, 2)
    ctl.demand(now)
    ctl.set_session(True)
    run(ctl, plant, 3, now=now)
    assert ctl.arr_day == 1
    assert ctl.miss_day == 0


def _roll_day(ctl, plant, now):
    # Step across local midnight.
    now += MIN
    ctl.step(plant.counts(), now, 86340)
    plant.step(ctl.duty, 60)
    now += MIN
    ctl.step(plant.counts(), now, 0)
    plant.step(ctl.duty, 60)
    return now


def test_real_misses_over_budget_raise_the_value_of_an_arrival_and_mild_days_leave_it():
    ctl = thermal.Thermal(_standby_cfg(miss_budget_pm=10), quiet_night_pattern())
    mild = Plant([5.0, 5.0, 5.0], amb=5.0)
    now = run(ctl, mild, 2, tod=3600)
    now = _roll_day(ctl, mild, now)
    v0 = ctl.value_wh
    # A mild day: nothing heated, no risk taken, nobody missed: the value stays.
    now = run(ctl, mild, 30, now=now, tod=7200)
    now = _roll_day(ctl, mild, now)
    assert ctl.value_wh == v0
    # A cold plug-in that waits for minutes: a real miss, over any budget.
    cold = Plant([-35.0, -35.0, -35.0], amb=-35.0)
    ctl.demand(now)
    ctl.set_session(True)
    now = run(ctl, cold, 5, now=now, tod=7200)
    ctl.set_session(False)
    now = _roll_day(ctl, cold, now)
    assert ctl.value_wh > v0


def test_a_value_fixed_by_configuration_stays_through_misses_and_mild_days():
    ctl = thermal.Thermal(_standby_cfg(miss_budget_pm=10, wait_value_wh=321, wait_value_learn=False),
                          quiet_night_pattern())
    mild = Plant([5.0, 5.0, 5.0], amb=5.0)
    now = run(ctl, mild, 2, tod=3600)
    now = _roll_day(ctl, mild, now)
    cold = Plant([-35.0, -35.0, -35.0], amb=-35.0)
    ctl.demand(now)
    ctl.set_session(True)
    now = run(ctl, cold, 5, now=now, tod=7200)
    ctl.set_session(False)
    assert ctl.miss_day == 1, 'the miss is still counted'
    now = _roll_day(ctl, cold, now)
    assert ctl.miss_m == 1000
    assert ctl.value_wh == 321
    now = run(ctl, mild, 30, now=now, tod=7200)
    now = _roll_day(ctl, mild, now)
    assert ctl.value_wh == 321


def test_standby_step_allocates_nothing():
    ctl, plant, now = _learned(_standby_cfg())
    assert ctl.zones[0].mode == 5
    counts = plant.counts()      # the zone held where it stands: only the controller runs
    t = [now]

    def steps(n, tod0):
        for i in range(n):
            t[0] += MIN
            ctl.step(counts, t[0] & 0x3FFFFFFF, tod0 + i * 60)

    steps(40, 12 * 3600)
    assert allocated(lambda: steps(200, 12 * 3600 + 2400)) == 0
    assert ctl.zones[0].mode == 5
