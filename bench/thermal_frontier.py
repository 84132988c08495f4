"""A lower bound on heater energy at a given service level, for any controller that does not know
the arrivals in advance: a side study for `bench_thermal` (docs/thermal.md, "How far down any
controller could go").

`python -m bench.thermal_frontier [ac7|dc60] [zone] [--release-k=K] [mu_wh ...]` solves, by dynamic
programming over the zone's temperature, the cheapest way to heat one charge-guarding zone of a reference
station through the Heihe winter when every minute spent "out of reach" costs mu_wh × the arrivals
expected in that minute. "Out of reach" means that a driver plugging in then would wait longer
than 60 s: the zone is below the lowest temperature from which the full heater reaches its
minimum in 60 s, in the weather of that minute. Arrivals are Poisson and the controller cannot see
them coming, so the expected share of arrivals that wait too long is the arrival rate integrated
over the time out of reach, whatever the controller does; sweeping mu_wh traces the frontier
between energy and that share.

Every simplification is in the bound's favour, so no real controller can do better:
- it knows the whole winter's weather in advance and the plant's true parameters;
- it knows when the benchmark's sessions happen (their internal heat comes for free) but is not
  required to have the zone warm for them, and the display and the other guarding zones are left
  out (they only add energy and misses);
- release is at the minimum itself with no sensor margin (unless --release-k gives one), and the
  60 s count from the plug-in with no step rounding.

The minimum thermostat of the benchmark (every zone on below its minimum, off 2 K above) is run on
the same plant and sessions for comparison, per zone and for the whole station.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from bench.bench_thermal import SEEDS, STATION_SEED
from hil_tests.climate import Climate, load
from hil_tests.thermal_plant import AC7, DC60, HOURLY_WEIGHTS, StationParams, ZoneParams, arrivals

DT_S = 60.0
REACH_S = 60.0
GRID_K = 0.02            # temperature grid step of the dynamic programme
ACTIONS = np.linspace(0.0, 1.0, 21)


class Winter:
    """Per-minute ambient, wind, session flags and arrival rate for one station and climate."""

    def __init__(self, station: StationParams, climate: Climate, seed: int, sessions: bool = True) -> None:
        self.n = int(climate.duration_s // DT_S)
        t = np.arange(self.n) * DT_S
        amb_wind = [climate.at(float(x)) for x in t]
        self.amb = np.array([a for a, _ in amb_wind])
        self.wind = np.array([w for _, w in amb_wind])
        hours = np.array([climate.seconds_of_day(float(x)) // 3600 for x in t])
        rate_h = np.array(HOURLY_WEIGHTS) * station.arrivals_per_day / sum(HOURLY_WEIGHTS)
        self.lam = rate_h[hours] * DT_S / 3600.0          # expected arrivals per step
        self.charging = np.zeros(self.n, dtype=bool)
        busy = -1.0
        for a in arrivals(station, climate.duration_s, climate.seconds_of_day(0), seed) if sessions else ():
            if a.t_s < busy:
                continue
            busy = a.t_s + a.session_s
            self.charging[math.ceil(a.t_s / DT_S):min(self.n, math.ceil(busy / DT_S))] = True
        self.charge_w = station.charge_power_w
        self.t0 = float(self.amb[0])      # zones start at the first ambient, as in the benchmark


def _zone_steps(z: ZoneParams, w: Winter,
                release_k: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per step: decay factor e, unheated equilibrium, full-heater rise term, reach threshold
    (the lowest temperature from which the full heater reaches min_c + release_k in REACH_S)."""
    ua = np.array([z.ua(x) for x in w.wind])
    internal = np.where(w.charging, z.internal_w(True, w.charge_w), z.internal_idle_w)
    e = np.exp(-DT_S * ua / z.c_j_per_k)
    base = w.amb + internal / ua
    heat = z.heater_w / ua * (1.0 - e)
    # Lowest temperature from which the full heater reaches min_c within REACH_S (idle plant).
    t_eq = w.amb + (z.heater_w + z.internal_idle_w) / ua
    rel = z.min_c + release_k
    reach = t_eq - (t_eq - rel) * np.exp(REACH_S * ua / z.c_j_per_k)
    # Where the heater cannot win (t_eq below the minimum) only a zone already warm is in reach.
    return e, base, heat, np.minimum(reach, rel)


def minimum_thermostat_kwh(z: ZoneParams, w: Winter) -> float:
    """The benchmark's minimum thermostat on this zone: on below min, off at min + 2 K."""
    e, base, heat, _ = _zone_steps(z, w)
    t, on, joules = w.t0, False, 0.0
    for k in range(w.n):
        if t < z.min_c:
            on = True
        elif t >= z.min_c + 2.0:
            on = False
        u = 1.0 if on else 0.0
        t = base[k] + (t - base[k]) * e[k] + heat[k] * u
        joules += z.heater_w * u * DT_S
    return joules / 3.6e6


def frontier_point(z: ZoneParams, w: Winter, mu_wh: float, release_k: float = 0.0) -> tuple[float, float]:
    """(heater kWh, expected share of idle-time arrivals out of reach) of the optimal policy.

    release_k > 0 counts a zone as released only that far above its minimum, as an interlock
    with a sensor margin must (Frostgrid's benchmark configuration: 0.2 K)."""
    e, base, heat, reach = _zone_steps(z, w, release_k)
    lo = float(min(w.amb.min(), z.min_c) - 2.0)
    hi = z.min_c + 4.0
    grid = np.arange(lo, hi + GRID_K, GRID_K)
    step_wh = z.heater_w * ACTIONS * DT_S / 3600.0
    idle = ~w.charging
    pen = mu_wh * w.lam * idle
    policy = np.empty((w.n, grid.size), dtype=np.uint8)
    value = np.zeros(grid.size)
    for k in range(w.n - 1, -1, -1):
        nxt = base[k] + (grid[:, None] - base[k]) * e[k] + heat[k] * ACTIONS[None, :]
        q = step_wh[None, :] + np.interp(nxt, grid, value)
        best = q.argmin(axis=1)
        policy[k] = best
        value = q[np.arange(grid.size), best] + np.where(grid < reach[k], pen[k], 0.0)
    t, joules, miss, expect = w.t0, 0.0, 0.0, 0.0
    for k in range(w.n):
        if idle[k]:
            expect += w.lam[k]
            # Counted a grid step below the threshold: the policy is read at the nearest grid
            # point, and the doubt goes to the bound.
            if t < reach[k] - GRID_K:
                miss += w.lam[k]
        i = min(grid.size - 1, max(0, int(round((t - lo) / GRID_K))))
        u = ACTIONS[policy[k, i]]
        t = base[k] + (t - base[k]) * e[k] + heat[k] * u
        joules += z.heater_w * u * DT_S
    return joules / 3.6e6, miss / expect


def main(argv: list[str]) -> int:
    """Print the minimum thermostat's energy and the frontier for the mu_wh given."""
    key = argv[0] if argv else "ac7"
    station = {"ac7": AC7, "dc60": DC60}[key]
    zname = argv[1] if len(argv) > 1 else station.zones[0].name
    z = station.zones[station.zone_index(zname)]
    release_k = 0.0
    rest = list(argv[2:])
    if rest and rest[0].startswith("--release-k="):
        release_k = float(rest.pop(0).split("=", 1)[1])
    mus = [float(x) for x in rest] or [1e9, 3000.0, 1000.0, 500.0, 250.0]
    w = Winter(station, load("heihe_winter"), SEEDS["heihe"] + STATION_SEED[key])
    per_zone = {x.name: minimum_thermostat_kwh(x, w) for x in station.zones}
    total = sum(per_zone.values())
    for name, kwh in per_zone.items():
        print(f"{key}_minimum_{name}: {kwh:.2f} kWh")
    print(f"{key}_minimum_total: {total:.2f} kWh")
    for mu in mus:
        kwh, miss = frontier_point(z, w, mu, release_k)
        print(f"{key}_frontier_{zname}_release{release_k:g}_mu{mu:g}: energy {kwh:.2f} kWh, out of reach "
              f"{100 * miss:.2f} % of arrivals, vs minimum total {100 * (1 - kwh / total):.1f} %, "
              f"vs minimum of the zone {100 * (1 - kwh / per_zone[zname]):.1f} %", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
