"""V2G benchmark: allocation quality on the reference fleet and dispatch day, and allocator speed.

`python -m bench.bench_v2g` (`make bench-v2g`) draws the 1,000 EVs of
`shared/data/grid/reference_fleet.md` from a fixed seed, builds the dispatch order (17:00–18:00 at
half the no-dispatch baseline, 18:00–19:00 at 0 kW, 19:00–21:00 at −800 kW, 23:00–05:00 at
+3,500 kW, free otherwise; tolerance ±10 % of |target|, at least ±50 kW) and runs three dispatchers
on it in the same run:

- ``prorata``: the pro-rata heuristic (ocpp_backend.dispatch.reference.prorata), on line;
- ``frostgrid``: Frostgrid's allocator (ocpp_backend.dispatch.allocator), on line: it learns of an
  EV only when it plugs in, re-runs every 5 minutes (the plug-in events of the day fall on that
  grid) and makes up within a settlement interval what its early steps missed;
- ``lp``: the offline linear programme with every arrival known in advance (HiGHS).

The on-line runs step a plant in 5-minute steps: arrivals are rounded up and departures down to
that grid; an EV's charge limit is 60 % of 7 kW for its first 30 minutes (cold derating). Figures
(per dispatcher, prefixed with its name, and the headline ones for Frostgrid unprefixed):
energy_error_pct, intervals_within_tolerance_share, lp_gap_pct, violations (departure, reserve,
power limit), battery_discharged_kwh, free_interval_peak_kw (the highest group power in an
interval without target: the rebound a dispatcher causes); alloc_10k_s is the median wall time
of one allocator run over 10,000 connected EVs (the slower of an export and an import target).
Results go to bench/results/v2g.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocpp_backend.dispatch.allocator import Fleet, Floats, allocate, apply_step, step_target_kw
from ocpp_backend.dispatch.reference import DayProblem, lp_optimum, prorata

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SEED = 20261127
N_EVS = 1000
STEP_S = 300.0
INTERVAL_S = 900.0
STATION_KW = 7.0
DERATE = 0.6
DERATE_S = 1800.0
DISCHARGE_KW = 6.0
ETA = 0.92
START_H = 17.0  # t = 0 s is 17:00 local time


@dataclass
class Day:
    """The drawn fleet (times in seconds after 17:00, on the 5-minute grid) and the order."""

    arrive_s: Floats
    depart_s: Floats
    capacity_kwh: Floats
    e0_kwh: Floats
    required_kwh: Floats
    reserve_kwh: Floats
    discharge_kw: Floats
    target_kw: Floats  # per interval, NaN = free

    @property
    def steps(self) -> int:
        return int(self.depart_s.max() // STEP_S)


def draw_fleet(n: int, seed: int) -> Day:
    """The reference fleet: uniform draws per EV, from one seeded generator."""
    rng = np.random.default_rng(seed)
    arrive = rng.uniform(0.0, 3.5 * 3600, n)  # 17:00-20:30
    depart = rng.uniform(13.5 * 3600, 15.5 * 3600, n)  # next day 06:30-08:30
    capacity = rng.uniform(40.0, 80.0, n)
    soc0 = rng.uniform(0.20, 0.70, n)
    bidirectional = rng.uniform(0.0, 1.0, n) < 0.40
    arrive = np.ceil(arrive / STEP_S) * STEP_S
    depart = np.floor(depart / STEP_S) * STEP_S
    e0 = soc0 * capacity
    return Day(
        arrive,
        depart,
        capacity,
        e0,
        np.maximum(0.80 * capacity, e0),
        0.30 * capacity,
        np.where(bidirectional, DISCHARGE_KW, 0.0),
        np.full(int(np.ceil(depart.max() / INTERVAL_S)), np.nan),
    )


def fleet_view(day: Day, idx: Floats, energy: Floats) -> Fleet:
    """What the dispatcher is told about the connected EVs ``idx``."""
    ones = np.ones(len(idx))
    return Fleet(
        energy_kwh=energy[idx],
        capacity_kwh=day.capacity_kwh[idx],
        required_kwh=day.required_kwh[idx],
        reserve_kwh=day.reserve_kwh[idx],
        charge_kw=STATION_KW * ones,
        charge_kw_now=STATION_KW * DERATE * ones,
        derated_until_s=day.arrive_s[idx] + DERATE_S,
        discharge_kw=day.discharge_kw[idx],
        departure_s=day.depart_s[idx],
        eta_charge=ETA * ones,
        eta_discharge=ETA * ones,
    )


@dataclass
class Run:
    """One dispatcher's day: group power per interval and the constraint checks."""

    group_kw: Floats
    departure_violations: int
    reserve_violations: int
    power_violations: int
    discharged_kwh: float
    seconds: float

    @property
    def violations(self) -> int:
        return self.departure_violations + self.reserve_violations + self.power_violations


def simulate(day: Day, policy: str) -> Run:
    """Step the day on line with ``policy`` in ``{"frostgrid", "prorata", "none"}``."""
    started = time.perf_counter()
    energy = day.e0_kwh.copy()
    n_int = len(day.target_kw)
    interval_kwh = np.zeros(n_int)
    dep_bad = res_bad = pow_bad = 0
    discharged = 0.0
    h = STEP_S / 3600.0
    departed = np.zeros(len(energy), dtype=bool)
    for s in range(day.steps + 1):
        now = s * STEP_S
        k = int(now // INTERVAL_S)
        leaving = ~departed & (day.depart_s <= now)
        dep_bad += int((energy[leaving] < day.required_kwh[leaving] - 1e-6).sum())
        departed |= leaving
        idx = np.flatnonzero((day.arrive_s <= now) & (now < day.depart_s))
        if k >= n_int or len(idx) == 0:
            continue
        fleet = fleet_view(day, idx, energy)
        target = day.target_kw[k]
        if policy == "none":
            power = prorata(fleet, now, STEP_S, None)
        elif policy == "prorata":
            power = prorata(fleet, now, STEP_S, None if np.isnan(target) else float(target))
        else:
            group = None
            if not np.isnan(target):
                elapsed = now - k * INTERVAL_S
                group = step_target_kw(float(target), INTERVAL_S, elapsed, interval_kwh[k])
            ahead = bool((~np.isnan(day.target_kw[k + 1 :])).any())
            power = allocate(fleet, now, STEP_S, group, targets_ahead=ahead).power_kw
        limit_hi = np.where(now < fleet.derated_until_s, fleet.charge_kw_now, fleet.charge_kw)
        pow_bad += int(((power > limit_hi + 1e-6) | (power < -fleet.discharge_kw - 1e-6)).sum())
        after = apply_step(fleet, power, STEP_S)
        res_bad += int(((power < -1e-9) & (after < fleet.reserve_kwh - 1e-6)).sum())
        discharged += float(-np.minimum(power, 0.0).sum() / ETA * h)
        energy[idx] = after
        interval_kwh[k] += float(power.sum()) * h
    return Run(
        interval_kwh / (INTERVAL_S / 3600.0),
        dep_bad,
        res_bad,
        pow_bad,
        discharged,
        time.perf_counter() - started,
    )


def set_order(day: Day, baseline_kw: Floats) -> None:
    """The reference order, in place (17:00 is interval 0; 15-minute intervals)."""
    t = day.target_kw
    t[:] = np.nan
    t[0:4] = 0.5 * baseline_kw[0:4]
    t[4:8] = 0.0
    t[8:16] = -800.0
    t[24:48] = 3500.0


def day_problem(day: Day) -> DayProblem:
    """The day at interval resolution for the LP (limits summed from the 5-minute grid)."""
    n, k = len(day.e0_kwh), len(day.target_kw)
    connected = np.zeros((n, k))
    charge = np.zeros((n, k))
    for s in range(int(day.depart_s.max() // STEP_S) + 1):
        now = s * STEP_S
        on = (day.arrive_s <= now) & (now < day.depart_s)
        kk = int(now // INTERVAL_S)
        if kk >= k:
            break
        connected[on, kk] += STEP_S
        kw = np.where(now < day.arrive_s + DERATE_S, STATION_KW * DERATE, STATION_KW)
        charge[on, kk] += kw[on] * STEP_S / 3600.0
    ones = np.ones(n)
    return DayProblem(
        INTERVAL_S,
        day.target_kw,
        connected,
        charge,
        day.discharge_kw,
        day.e0_kwh,
        day.capacity_kwh,
        day.required_kwh,
        day.reserve_kwh,
        ETA * ones,
        ETA * ones,
    )


def quality(day: Day, group_kw: Floats) -> dict[str, float]:
    """Energy error and the share of targeted intervals within tolerance."""
    targeted = ~np.isnan(day.target_kw)
    target = day.target_kw[targeted]
    got = group_kw[targeted]
    err = np.abs(got - target)
    tolerance = np.maximum(0.10 * np.abs(target), 50.0)
    return {
        "energy_error_pct": 100.0 * float(err.sum() / np.abs(target).sum()),
        "intervals_within_tolerance_share": float((err <= tolerance + 1e-6).mean()),
        "worst_interval_error_kw": float(err.max()),
    }


def alloc_10k_s(seed: int) -> float:
    """Median wall time of one allocator run over 10,000 connected EVs at 19:30 with a target."""
    day = draw_fleet(10_000, seed)
    now = 2.5 * 3600
    day.arrive_s[:] = np.minimum(day.arrive_s, now)  # everyone connected
    idx = np.arange(10_000)
    fleet = fleet_view(day, idx, day.e0_kwh)
    times = []
    for _ in range(7):
        for group_kw in (-8000.0, 35000.0):  # an export and an import target (water-filling)
            started = time.perf_counter()
            allocate(fleet, now, STEP_S, group_kw)
            times.append(time.perf_counter() - started)
    return max(statistics.median(times[0::2]), statistics.median(times[1::2]))


def main() -> None:
    """Run everything, print the figures, write bench/results/v2g.json."""
    day = draw_fleet(N_EVS, SEED)
    baseline = simulate(day, "none")
    set_order(day, baseline.group_kw)
    figures: dict[str, float | int | str] = {
        "evs": N_EVS,
        "seed": SEED,
        "baseline_peak_kw": float(baseline.group_kw.max()),
    }
    free = np.isnan(day.target_kw)
    runs = {"prorata": simulate(day, "prorata"), "frostgrid": simulate(day, "frostgrid")}
    started = time.perf_counter()
    lp = lp_optimum(day_problem(day))
    lp_s = time.perf_counter() - started
    lp_q = quality(day, lp.group_kw)
    lp_dep = int((lp.final_kwh < day.required_kwh - 1e-6).sum())
    lp_res = int((lp.min_energy_after_discharge_kwh < day.reserve_kwh - 1e-6).sum())
    for name, run in runs.items():
        q = quality(day, run.group_kw)
        figures.update({f"{name}_{key}": value for key, value in q.items()})
        figures[f"{name}_lp_gap_pct"] = q["energy_error_pct"] - lp_q["energy_error_pct"]
        figures[f"{name}_violations"] = run.violations
        figures[f"{name}_departure_violations"] = run.departure_violations
        figures[f"{name}_reserve_violations"] = run.reserve_violations
        figures[f"{name}_power_violations"] = run.power_violations
        figures[f"{name}_battery_discharged_kwh"] = run.discharged_kwh
        figures[f"{name}_run_s"] = run.seconds
        figures[f"{name}_free_interval_peak_kw"] = float(run.group_kw[free].max())
    figures.update({f"lp_{key}": value for key, value in lp_q.items()})
    figures["lp_violations"] = lp_dep + lp_res
    figures["lp_battery_discharged_kwh"] = lp.discharged_kwh
    figures["lp_solve_s"] = lp_s
    for key in ("energy_error_pct", "intervals_within_tolerance_share", "lp_gap_pct", "violations"):
        figures[key] = figures[f"frostgrid_{key}"]
    figures["alloc_10k_s"] = alloc_10k_s(SEED + 1)
    figures["machine"] = f"{platform.machine()} {platform.python_version()} {platform.node()}"
    units = {"_pct": "%", "_share": "", "_kwh": "kWh", "_kw": "kW", "_s": "s"}
    for key, value in figures.items():
        unit = next((u for suffix, u in units.items() if key.endswith(suffix)), "")
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key}: {shown} {unit}".rstrip())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "v2g.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
