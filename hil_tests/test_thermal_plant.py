"""The thermal plant's physics, its climate and arrivals, and a Mohe design-day cold start with the
firmware's own thermal controller running in MicroPython."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hil_tests.climate import coldest_week, load
from hil_tests.thermal_plant import (
    AC7,
    DC60,
    HOURLY_WEIGHTS,
    FirmwareThermal,
    SensorEmulator,
    ThermalPlant,
    arrivals,
    build_mpy,
    ntc_counts,
    ntc_temp_c,
    steady_state_c,
    time_to_reach_s,
)


def _settle(station, zone_i: int, ambient: float, wind: float, duty: float, hours: float = 200) -> float:
    plant = ThermalPlant(station, ambient)
    duties = [0.0] * len(station.zones)
    duties[zone_i] = duty
    for _ in range(int(hours * 60)):
        plant.step(60, duties, False, ambient, wind)
    return plant.temps_c[zone_i]


@pytest.mark.parametrize(("station", "zone_i"), [(AC7, 0), (AC7, 2), (DC60, 0), (DC60, 1)])
def test_steady_state_rise_equals_heat_over_loss_coefficient(station, zone_i) -> None:
    z = station.zones[zone_i]
    t = _settle(station, zone_i, -40.0, 0.0, 1.0)
    assert t - (-40.0) == pytest.approx((z.heater_w + z.internal_idle_w) / z.ua_calm_w_per_k, abs=0.01)


def test_wind_of_4_ms_doubles_the_loss_and_it_doubles_no_further() -> None:
    z = AC7.zones[0]
    assert z.ua(0.0) == pytest.approx(1.6)
    assert z.ua(2.0) == pytest.approx(1.6 * 1.5)
    assert z.ua(4.0) == pytest.approx(3.2)
    assert z.ua(9.0) == pytest.approx(3.2)
    calm = _settle(AC7, 0, -30.0, 0.0, 1.0) + 30.0
    windy = _settle(AC7, 0, -30.0, 6.0, 1.0) + 30.0
    assert windy == pytest.approx(calm / 2, rel=1e-3)


def test_heating_follows_the_exponential_of_the_lumped_model() -> None:
    z = DC60.zones[1]
    plant = ThermalPlant(DC60, -40.0)
    minutes = 0
    while plant.temps_c[1] < -18.0:
        plant.step(60, [0.0, 1.0, 0.0], False, -40.0, 1.0)
        minutes += 1
    expected = time_to_reach_s(z, -40.0, -18.0, -40.0, 1.0) / 60
    assert minutes == math.ceil(expected)
    assert steady_state_c(z, -40.0, 1.0, 1.0) == pytest.approx(-40.0 + 105.0 / 2.5)


def test_charging_heats_the_dc_power_modules_by_five_percent_of_the_power() -> None:
    z = DC60.zones[0]
    assert z.internal_w(True, DC60.charge_power_w) == pytest.approx(3000.0)
    assert z.internal_w(False, DC60.charge_power_w) == pytest.approx(40.0)


def test_ntc_emulation_round_trips_through_the_reference_conversion() -> None:
    for t in (-50.0, -30.0, -20.0, 0.0, 25.0, 60.0):
        assert ntc_temp_c(ntc_counts(t)) == pytest.approx(t, abs=1e-6)
    s = SensorEmulator()
    assert abs(ntc_temp_c(s.read(-20.0)) + 20.0) < 0.05
    assert s.read(-20.0) > s.read(20.0)    # pull-up divider: colder, more counts


def test_sensor_faults_read_as_the_wire_would() -> None:
    s = SensorEmulator(fault="open")
    assert s.read(-20.0) == 4095
    s = SensorEmulator(fault="short")
    assert s.read(-20.0) == 0
    s = SensorEmulator(fault="stuck")
    first = s.read(-20.0)
    assert s.read(10.0) == first


def test_climate_interpolates_temperature_and_holds_the_hour_mean_wind() -> None:
    c = load("heihe_winter")
    t0, w0 = c.at(0)
    t1, _ = c.at(3600)
    tm, wm = c.at(1800)
    assert tm == pytest.approx((t0 + t1) / 2)
    assert wm == w0
    assert c.duration_s == 151 * 86400
    assert c.seconds_of_day(3600 * 25 + 60) == 3660


def test_coldest_mohe_week_lies_in_the_deep_january_snap() -> None:
    week, first = coldest_week("mohe_winter")
    assert week.start.month == 1
    assert len(week.temp_c) == 168
    assert min(week.temp_c) == pytest.approx(-47.1, abs=0.05)   # the winter's lowest hour
    assert sum(week.temp_c) / 168 < -35


def test_arrivals_are_seeded_poisson_with_the_hourly_weights() -> None:
    days = 400
    a = arrivals(AC7, days * 86400, 0, seed=5)
    assert a == arrivals(AC7, days * 86400, 0, seed=5)
    assert len(a) == pytest.approx(6 * days, rel=0.05)
    per_hour = [0] * 24
    for x in a:
        per_hour[int(x.t_s % 86400 // 3600)] += 1
        assert 3600 <= x.session_s <= 3 * 3600
    total = sum(HOURLY_WEIGHTS)
    for h in range(24):
        expected = 6 * days * HOURLY_WEIGHTS[h] / total
        assert abs(per_hour[h] - expected) < 4 * math.sqrt(expected), (h, per_hour[h], expected)
    assert per_hour[17] > 10 * per_hour[2]
    dc = arrivals(DC60, 30 * 86400, 0, seed=5)
    assert all(20 * 60 <= x.session_s <= 50 * 60 for x in dc)


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware's thermal modules compiled with mpy-cross, as on a board."""
    return build_mpy(tmp_path_factory.mktemp("thermal_mpy"))


@pytest.mark.parametrize("station", [AC7, DC60], ids=["ac7", "dc60"])
def test_mohe_design_day_cold_start_holds_interlock_until_warm(station, mpy_dir: Path) -> None:
    """Boot at -42 C in the Mohe design profile with an EV waiting: the firmware heats, holds the
    contactor until every guarding zone is warm, and is ready when the plant's physics says."""
    climate = load("mohe_design_48h")
    plant = ThermalPlant(station, -42.0)
    guards = station.charge_guard_indexes()
    fw = FirmwareThermal(mpy_dir, station)
    try:
        ready_min = None
        reason = None
        for k in range(6 * 60):
            amb, wind = climate.at(k * 60)
            allowed, duties = fw.step(k, k * 60.0, climate.seconds_of_day(k * 60), plant, k == 0, True)
            if k == 1:
                reason = fw.report()["reason"]
            if allowed:
                ready_min = k
                assert all(plant.temps_c[i] >= station.zones[i].min_c for i in guards)
                break
            assert any(plant.temps_c[i] < station.zones[i].min_c + 2.05 for i in guards)
            plant.step(60, duties, False, amb, wind)
        assert reason is not None and reason.startswith("ColdInterlock:")
        assert ready_min is not None, "never ready in 6 h"
        # Physics: each guarding zone at full heater from -42 C to its minimum + 2 K hysteresis.
        twin = ThermalPlant(station, -42.0)
        reached = [None] * len(station.zones)
        for k in range(6 * 60):
            for i in guards:
                if reached[i] is None and twin.temps_c[i] >= station.zones[i].min_c + 2.0:
                    reached[i] = k
            if all(reached[i] is not None for i in guards):
                break
            amb, wind = climate.at(k * 60)
            twin.step(60, [1.0] * len(station.zones), False, amb, wind)
        expected = max(reached[i] for i in guards)
        assert abs(ready_min - expected) <= max(2, 0.05 * expected), (ready_min, expected)
        # It keeps the zones warm afterwards and the charge guards stay released.
        for k in range(ready_min, ready_min + 120):
            amb, wind = climate.at(k * 60)
            allowed, duties = fw.step(k, k * 60.0, climate.seconds_of_day(k * 60), plant, False, True, True)
            assert allowed
            plant.step(60, duties, True, amb, wind)
            assert all(plant.temps_c[i] >= station.zones[i].min_c for i in guards)
        assert fw.report()["alarms"] == []
    finally:
        fw.close()
