"""What an on-line thermal controller could reach at best: a side study for `bench_thermal`.

`python -m bench.thermal_bound ac7|dc60 [mu_wh ...]` runs, on the Heihe winter with the benchmark's
seeded arrivals, an idealised controller of the same kind as Frostgrid's but with perfect knowledge
of everything an on-line controller can know in principle: the plant's true parameters (no
learning error), the present ambient and wind (no forecast), and the true hourly arrival rates (not
a learned histogram). It does not know the arrivals themselves. Per step:

- while an EV is plugged in: heat at full power until released, then hold at min + 0.3 K;
- idle, when holding pays (total hold power of the charge-guarding zones at their minimum <
  mu_wh × arrivals per hour expected now): stand by at the lowest temperature from which the zone
  reaches its release level (min + 0.2 K) in 45 s at full power, computed exactly;
- otherwise drift (heater off above -38 C), unless the next hour in which holding pays is closer
  than the exact time to re-heat × 1.1 + 5 min, in which case it pre-heats.

mu_wh (Wh of heater energy per arrival that would wait) sweeps the energy/service trade-off. The
printed energy counts the charge-guarding zones only (the display zone is left out), so it is a
lower bound for Frostgrid's total. Steps and scoring as in `bench_thermal.simulate` (one minute,
a step at each arrival, 5 s while a driver waits; served = released within 60 s).
"""

from __future__ import annotations

import math
import sys

from bench.bench_thermal import DT_S, DT_WAIT_S, FLOOR_C, SEEDS, STATION_SEED, reach_c
from hil_tests.climate import Climate, load
from hil_tests.thermal_plant import (
    AC7,
    DC60,
    HOURLY_WEIGHTS,
    StationParams,
    ThermalPlant,
    ZoneParams,
    arrivals,
)

RELEASE_K = 0.2
DROP_K = 0.1
HOLD_K = 0.3
STANDBY_WAIT_S = 45.0


def _reach_s(z: ZoneParams, t_c: float, target_c: float, amb: float, wind: float) -> float:
    """Exact time at full heater power from t_c to target_c (idle), inf if out of reach."""
    ua = z.ua(wind)
    t_eq = amb + (z.heater_w + z.internal_idle_w) / ua
    if t_c >= target_c:
        return 0.0
    if t_eq <= target_c:
        return math.inf
    return z.c_j_per_k / ua * math.log((t_eq - t_c) / (t_eq - target_c))


def _standby_c(z: ZoneParams, target_c: float, secs: float, amb: float, wind: float) -> float:
    """Lowest temperature from which full power reaches target_c within secs."""
    ua = z.ua(wind)
    t_eq = amb + (z.heater_w + z.internal_idle_w) / ua
    return t_eq - (t_eq - target_c) * math.exp(secs * ua / z.c_j_per_k)


def _least_duty(z: ZoneParams, t_c: float, target_c: float, dt: float, amb: float, wind: float,
                charging: bool, charge_w: float) -> float:
    """Least constant duty over dt that ends at or above target_c."""
    ua = z.ua(wind)
    e = math.exp(-dt * ua / z.c_j_per_k)
    base = amb + z.internal_w(charging, charge_w) / ua
    t_off = base + (t_c - base) * e
    if t_off >= target_c:
        return 0.0
    return min(1.0, (target_c - t_off) / ((z.heater_w / ua) * (1 - e)))


def run(station: StationParams, climate: Climate, seed: int,
        mu_wh: float) -> tuple[float, float, float, int, float]:
    """(energy kWh of the charge-guarding zones, served share, p95 wait s, arrivals scored,
    expected share out of reach).

    The last is what `bench.thermal_frontier` bounds: the arrival rate integrated over the idle
    time in which a plug-in would wait longer than 60 s (some guarding zone below the level from
    which its full heater reaches the minimum in 60 s), over the rate integrated over all idle
    time. On 538 arrivals the served share of one seed scatters by about +-0.4 points around it.
    """
    end = int(climate.duration_s // DT_S) * DT_S
    arr = arrivals(station, climate.duration_s, climate.seconds_of_day(0), seed)
    plant = ThermalPlant(station, climate.at(0)[0])
    zones = station.zones
    guards = station.charge_guard_indexes()
    total_w = sum(HOURLY_WEIGHTS)
    lam_h = [station.arrivals_per_day * w / total_w for w in HOURLY_WEIGHTS]
    ready = {i: False for i in guards}
    waits: list[float] = []
    sess: list | None = None      # [arrival_s, remaining_s, waiting]
    ai = 0
    t = 0.0
    expect = out_of_reach = 0.0
    while t < end:
        while ai < len(arr) and arr[ai].t_s <= t:
            if sess is None:
                sess = [arr[ai].t_s, arr[ai].session_s, True]
            ai += 1
        nxt = float((int(t // DT_S) + 1) * DT_S)
        if ai < len(arr) and arr[ai].t_s < nxt:
            nxt = arr[ai].t_s
        if sess is not None and sess[2]:
            nxt = min(nxt, t + DT_WAIT_S)
        dt = nxt - t
        amb, wind = climate.at(t)
        tod = climate.seconds_of_day(t)
        hour = tod // 3600
        temps = plant.temps_c
        for i in guards:
            z = zones[i]
            if ready[i] and temps[i] < z.min_c + DROP_K:
                ready[i] = False
            elif not ready[i] and temps[i] >= z.min_c + RELEASE_K:
                ready[i] = True
        allowed = all(ready.values())
        charging = sess is not None and not sess[2]
        cost_w = sum(max(0.0, zones[i].ua(wind) * (zones[i].min_c - amb) - zones[i].internal_idle_w)
                     for i in guards)

        def pays(h: int, cost: float = cost_w) -> bool:
            return cost <= mu_wh * lam_h[h % 24]

        duties = [0.0] * len(zones)
        for i in guards:
            z = zones[i]
            rel = z.min_c + RELEASE_K
            if sess is not None:
                if sess[2] and not ready[i]:
                    duties[i] = 1.0
                    continue
                target = z.min_c + HOLD_K
            else:
                standby = _standby_c(z, rel, STANDBY_WAIT_S, amb, wind)
                target = standby
                if not pays(hour):
                    j = 1
                    while j < 24 and not pays(hour + j):
                        j += 1
                    to_next = j * 3600 - tod % 3600
                    lead = _reach_s(z, temps[i], standby, amb, wind) * 1.1 + 300
                    if lead < to_next:
                        target = FLOOR_C
            duties[i] = _least_duty(z, temps[i], target, dt, amb, wind, charging, station.charge_power_w)
        if sess is None:
            lam = lam_h[hour] * dt / 3600
            expect += lam
            if any(temps[i] < reach_c(zones[i], amb, wind) for i in guards):
                out_of_reach += lam
        if sess is not None and sess[2] and allowed:
            waits.append(t - sess[0])
            sess[2] = False
        closed = sess is not None and not sess[2]
        plant.step(dt, duties, closed, amb, wind)
        if closed:
            sess[1] -= dt
            if sess[1] <= 0:
                sess = None
        t = nxt
    energy = sum(plant.heater_energy_j[i] for i in guards) / 3.6e6
    served = sum(1 for w in waits if w <= 60) / len(waits)
    ws = sorted(waits)
    return energy, served, ws[math.ceil(0.95 * len(ws)) - 1], len(waits), out_of_reach / expect


def main(argv: list[str]) -> int:
    """Print energy and service for each mu_wh given (default: a sweep)."""
    key = argv[0] if argv else "ac7"
    station = {"ac7": AC7, "dc60": DC60}[key]
    mus = [float(x) for x in argv[1:]] or [1e9, 1000.0, 500.0, 400.0, 250.0]
    climate = load("heihe_winter")
    for mu in mus:
        e, served, p95, n, reach = run(station, climate, SEEDS["heihe"] + STATION_SEED[key], mu)
        print(f"{key}_bound_mu{mu:g}: energy {e:.2f} kWh, served<=60s {100 * served:.2f} %, "
              f"p95 {p95:.0f} s, arrivals {n}, expected out of reach {100 * reach:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
