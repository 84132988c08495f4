# Thermal controller in MicroPython: cold-start interlock, sensor fail-safe, heater fault,
# over-temperature cut-off, relay outputs.
import ntc
import thermal
from cases_thermal import CONV, MIN, NTC, Plant, cfg, run


def test_contactor_stays_open_below_minimum_and_closes_at_min_plus_hysteresis():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-35.0, -35.0, -35.0])
    mins = (-2000, -3000)
    reached = [False, False]     # reading got to min + 2 K since it was last below min
    now = 0
    released_at = None
    for m in range(240):
        now += MIN
        counts = plant.counts()
        for i in range(2):
            r = CONV.read_cc(counts[i])
            if r < mins[i]:
                reached[i] = False
            elif r >= mins[i] + 200:
                reached[i] = True
        a = ctl.step(counts, now, -1)
        assert bool(a & thermal.G_CONTACTOR) == (reached[0] and reached[1]), (m, reached)
        if a & thermal.G_CONTACTOR:
            released_at = m
            break
        plant.step(ctl.duty, 60)
    assert released_at is not None, "never released"
    assert released_at > 20     # physics: tens of minutes from -35 C


def test_cold_interlock_reason_names_the_zone_and_its_temperature():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-31.2, -25.0, -25.0])
    ctl.step(plant.counts(), 0, -1)
    r = ctl.reason()
    assert r.startswith("ColdInterlock:electronics -31.")
    assert len(r) <= 50


def test_released_interlock_holds_until_below_minimum():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-17.0, -27.0, -17.0])
    ctl.step(plant.counts(), 0, -1)
    assert ctl.allowed & thermal.G_CONTACTOR
    plant.t[0] = -19.5     # inside the hysteresis band: still allowed
    ctl.step(plant.counts(), MIN, -1)
    assert ctl.allowed & thermal.G_CONTACTOR
    plant.t[0] = -20.1
    ctl.step(plant.counts(), 2 * MIN, -1)
    assert not ctl.allowed & thermal.G_CONTACTOR
    plant.t[0] = -19.0     # not yet min + hysteresis
    ctl.step(plant.counts(), 3 * MIN, -1)
    assert not ctl.allowed & thermal.G_CONTACTOR


def test_display_zone_does_not_hold_the_contactor():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-10.0, -10.0, -35.0])
    a = ctl.step(plant.counts(), 0, -1)
    assert a & thermal.G_CONTACTOR
    assert not a & thermal.G_DISPLAY


def test_open_sensor_holds_interlock_and_heats_at_failsafe_duty():
    ctl = thermal.Thermal(cfg(failsafe_duty=0.3))
    counts = Plant([0.0, 0.0, 0.0]).counts()
    ctl.step(counts, 0, -1)
    assert ctl.allowed & thermal.G_CONTACTOR
    counts[0] = 4095
    a = ctl.step(counts, MIN, -1)
    assert not a & thermal.G_CONTACTOR
    assert ctl.duty[0] == 300
    assert "SensorOpen:electronics" in ctl.alarms()
    assert ctl.reason() == "SensorOpen:electronics"
    assert ctl.temp_cc[0] == ntc.OPEN


def test_shorted_sensor_reading_hot_is_not_taken_as_warm():
    ctl = thermal.Thermal(cfg())
    counts = Plant([-35.0, -10.0, -10.0]).counts()
    counts[0] = 0
    a = ctl.step(counts, 0, -1)
    assert not a & thermal.G_CONTACTOR
    assert "SensorShort:electronics" in ctl.alarms()
    assert ctl.duty[0] == 300


def test_sensor_with_no_reading_yet_is_never_assumed_warm():
    ctl = thermal.Thermal(cfg())
    a = ctl.step([4095, 4095, 4095], 0, -1)
    assert a == 0 or not a & thermal.G_CONTACTOR


def test_stuck_sensor_goes_fail_safe():
    ctl = thermal.Thermal(cfg(stuck_min=60))
    plant = Plant([-21.0, -10.0, -10.0], amb=-30.0)
    frozen = None
    now = 0
    for m in range(300):
        now += MIN
        counts = plant.counts()
        if m == 30:
            frozen = counts[0]
        if frozen is not None:
            counts[0] = frozen
        ctl.step(counts, now, -1)
        plant.step(ctl.duty, 60)
        if "SensorStuck:electronics" in ctl.alarms() or "HeaterFault:electronics" in ctl.alarms():
            break
    assert not ctl.allowed & thermal.G_CONTACTOR
    assert ctl.duty[0] == 300


def test_implausible_jump_goes_fail_safe_and_latches():
    ctl = thermal.Thermal(cfg())
    plant = Plant([-10.0, -10.0, -10.0])
    ctl.step(plant.counts(), 0, -1)
    plant.t[0] = 25.0
    ctl.step(plant.counts(), MIN, -1)
    assert "SensorRate:electronics" in ctl.alarms()
    plant.t[0] = 24.0
    a = ctl.step(plant.counts(), 2 * MIN, -1)
    assert not a & thermal.G_CONTACTOR
    ctl.reset_alarms()
    a = ctl.step(plant.counts(), 3 * MIN, -1)
    assert a & thermal.G_CONTACTOR


def test_two_sensors_that_disagree_hold_the_interlock():
    c = cfg()
    c["sensors"].append(dict(NTC, channel=3))
    c["zones"][0]["sensor2"] = 3
    ctl = thermal.Thermal(c)
    plant = Plant([-10.0, -10.0, -10.0])
    counts = plant.counts() + [CONV.counts_at(-2.0)]
    now = 0
    for _ in range(4):
        now += MIN
        ctl.step(counts, now, -1)
    assert "SensorDisagree:electronics" in ctl.alarms()
    assert not ctl.allowed & thermal.G_CONTACTOR


def test_one_of_two_sensors_open_runs_on_the_other_and_alarms():
    c = cfg()
    c["sensors"].append(dict(NTC, channel=3))
    c["zones"][0]["sensor2"] = 3
    ctl = thermal.Thermal(c)
    counts = Plant([-10.0, -10.0, -10.0]).counts() + [4095]
    a = ctl.step(counts, 0, -1)
    assert a & thermal.G_CONTACTOR
    assert "SensorOpen:electronics" in ctl.alarms()
    counts[0] = CONV.counts_at(-25.0)
    a = ctl.step(counts, MIN, -1)
    assert not a & thermal.G_CONTACTOR


def test_heater_that_does_not_warm_its_zone_is_a_heater_fault():
    ctl = thermal.Thermal(cfg(heater_check_min=20))
    plant = Plant([-30.0, -10.0, -10.0], amb=-30.0)
    plant.dead[0] = True
    run(ctl, plant, 40)
    assert "HeaterFault:electronics" in ctl.alarms()
    assert not ctl.allowed & thermal.G_CONTACTOR
    assert ctl.duty[0] == 300


def test_working_heater_is_not_a_heater_fault():
    ctl = thermal.Thermal(cfg(heater_check_min=20))
    plant = Plant([-38.0, -38.0, -38.0], amb=-40.0)
    run(ctl, plant, 120)
    assert ctl.alarms() == []


def test_overtemperature_turns_the_heater_off_and_alarms():
    ctl = thermal.Thermal(cfg())
    plant = Plant([61.0, 0.0, 0.0])
    ctl.demand(0)
    ctl.step(plant.counts(), 0, -1)
    assert ctl.duty[0] == 0
    assert "OverTemp:electronics" in ctl.alarms()
    plant.t[0] = 57.0    # below the cut-off but inside its 5 K hysteresis
    ctl.step(plant.counts(), MIN, -1)
    assert ctl.duty[0] == 0


def test_overtemperature_overrides_a_relay_minimum_on_time():
    c = cfg()
    c["zones"][0].update({"output": "relay", "min_on_s": 600, "min_off_s": 600})
    ctl = thermal.Thermal(c)
    plant = Plant([-30.0, -10.0, -10.0])
    ctl.step(plant.counts(), 0, -1)
    ctl.step(plant.counts(), 1000, -1)
    assert ctl.duty[0] == 1000
    plant.t[0] = 70.0
    ctl.step(plant.counts(), 2000, -1)
    assert ctl.duty[0] == 0


def test_relay_output_respects_minimum_on_and_off_times():
    c = cfg(failsafe_duty=0.5)
    c["zones"][0].update({"output": "relay", "min_on_s": 120, "min_off_s": 180})
    ctl = thermal.Thermal(c)
    counts = [4095, 3000, 3000]       # open sensor: 50 % fail-safe duty, modulated by the relay
    now = 0
    last = None
    run_ms = 0
    runs = []
    for _ in range(3600):
        now += 1000
        ctl.step(counts, now, -1)
        d = ctl.duty[0]
        assert d in (0, 1000)
        if d == last:
            run_ms += 1000
        else:
            if last is not None:
                runs.append((last, run_ms))
            last = d
            run_ms = 1000
    for state, ms in runs[1:]:
        assert ms >= (120000 if state else 180000), (state, ms)
    on = sum(ms for s, ms in runs if s)
    total = sum(ms for s, ms in runs)
    assert 0.4 < on / total < 0.6
