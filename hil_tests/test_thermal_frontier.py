"""The energy/service lower bound of `bench.thermal_frontier` on a climate where the answer is known
in closed form: still air at a constant -30 C, no sessions, the AC-7 electronics zone."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from bench.thermal_frontier import REACH_S, Winter, frontier_point, minimum_thermostat_kwh
from hil_tests.climate import Climate
from hil_tests.thermal_plant import AC7

HOURS = 48
AMB_C = -30.0


@pytest.fixture(scope="module")
def winter() -> Winter:
    climate = Climate("still_-30", datetime(2026, 1, 10), (AMB_C,) * HOURS, (0.0,) * HOURS)
    return Winter(AC7, climate, seed=1, sessions=False)


def _zone():
    return AC7.zones[AC7.zone_index("electronics")]


def _reach_c(release_k: float = 0.0) -> float:
    z = _zone()
    ua = z.ua(0.0)
    t_eq = AMB_C + (z.heater_w + z.internal_idle_w) / ua
    return t_eq - (t_eq - z.min_c - release_k) * math.exp(REACH_S * ua / z.c_j_per_k)


@pytest.mark.parametrize("release_k", [0.0, 0.2])
def test_never_out_of_reach_costs_the_hold_power_at_the_reach_threshold(winter: Winter,
                                                                         release_k: float) -> None:
    z = _zone()
    reach = _reach_c(release_k)
    # ~0.4 K below the release level at 60 W
    assert z.min_c + release_k - 0.6 < reach < z.min_c + release_k - 0.2
    winter.t0 = reach + 0.05                             # start just inside, no warm-up
    kwh, miss = frontier_point(z, winter, 1e9, release_k)
    hold_w = z.ua(0.0) * (reach - AMB_C) - z.internal_idle_w
    assert miss == 0.0
    assert kwh == pytest.approx(hold_w * HOURS / 1000, rel=0.03)


def test_a_lower_price_on_waiting_buys_less_heat_and_more_waits(winter: Winter) -> None:
    z = _zone()
    winter.t0 = _reach_c() + 0.05
    points = [frontier_point(z, winter, mu) for mu in (1e9, 100.0, 0.0)]
    energies = [p[0] for p in points]
    misses = [p[1] for p in points]
    assert energies[0] > energies[1] > energies[2] == 0.0
    assert misses[0] < misses[1] < misses[2]
    assert misses[2] > 0.95                              # unheated: out of reach almost always


def test_the_bound_beats_the_minimum_thermostat_that_serves_everyone(winter: Winter) -> None:
    z = _zone()
    winter.t0 = _reach_c() + 0.05
    kwh, _ = frontier_point(z, winter, 1e9)
    # The thermostat swings between min and min + 2 K; the bound holds ~0.4 K below min.
    assert kwh < minimum_thermostat_kwh(z, winter)
