"""Thermal benchmark: Frostgrid's own controller (in MicroPython) against three baselines.

`python -m bench.bench_thermal` runs, on both reference stations (AC-7, DC-60) with the seeded
arrivals of `shared/data/cold/reference_stations.md`:

- the Heihe winter (151 days, one-minute steps),
- the coldest week of the Mohe winter (scored after a 14-day burn-in on the days before it),
- the Mohe 48 h design profile (cold start at the design temperature, the arrival pattern and the
  learned models and V restored from the Heihe run through `Arrivals.to_bytes()/from_bytes()` and
  `thermal_state.pack()/restore()`, as a station reads arrivals.bin and learned.bin at boot),

and for each controller prints heater energy, the share of arrivals served within 60 s, p95/p99
wait and interlock violations as `name: value unit` lines; writes `bench/results/thermal.json` and
a plot of the Mohe cold week to `bench/results/thermal_week.png`.

Frostgrid runs as the firmware's compiled `.mpy` modules in one long-lived MicroPython process per
station (heap capped at 100 kB), stepped in lock-step with the CPython plant over a compact text
protocol; the baselines are ideal controllers in CPython on the plant's true temperatures.
Definitions (also in docs/thermal.md):
- steps: one minute; a step starts at each arrival (the controller learns of the plug-in when it
  happens, as the device polling every second would) and steps are 5 s while a driver waits.
- wait: from arrival until every zone guarding charging allows it (resolution 5 s; zero when it
  allows at the arrival). Drivers wait as long as it takes; an arrival while the connector is
  occupied leaves and is not counted.
- baselines allow charging when every guarding zone's true temperature is at or above its minimum;
  Frostgrid allows it when its own interlock (on its own sensor readings) says so.
- violation: the contactor closed while a guarding zone's true temperature is below its minimum.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hil_tests.climate import Climate, load
from hil_tests.thermal_plant import (
    AC7,
    DC60,
    HOURLY_WEIGHTS,
    Arrival,
    FirmwareThermal,
    StationParams,
    ThermalPlant,
    ZoneParams,
    arrivals,
    build_mpy,
    firmware_config,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DT_S = 60
DT_WAIT_S = 5            # step while a driver waits for the interlock (wait resolution)
FLOOR_C = -38.0          # the oracle lets zones drift no colder than this
BURN_IN_DAYS = 14
RELEASE_K = 0.2         # Frostgrid's interlock releases a zone at its minimum + this
WAIT_S = 60              # Frostgrid's service promise: a plug-in released within this (the goal's)
NEAR_PCT = 50            # ... standing by half of the model's predicted 60 s rise below release
MISS_BUDGET_PM = 10      # Frostgrid's miss budget: the goal's 1 % of arrivals (over ~a month)
QUIET_SHARE_PM = 1000    # any half hour may be left cold where the heat saved outweighs V x arrivals
# The energy/service trade-off on the Heihe winter: the same firmware with other miss budgets
# (7 = the firmware's default), with drifts kept to the quietest half hours holding 6 % of the
# arrivals (the firmware's default quiet share, nights in practice), and the previous design
# (zones held released while wanted, 2 K release hysteresis, no standby below the release level).
TRADEOFF = {"budget7": {"miss_budget_pm": 7}, "budget20": {"miss_budget_pm": 20},
            "budget40": {"miss_budget_pm": 40},
            "nights": {"quiet_share_pm": 60}, "held": {"hyst_k": 2.0, "wait_s": 0}}
SEEDS = {"heihe": 1101, "mohe": 2202, "mohe_design": 3303}
STATION_SEED = {"ac7": 0, "dc60": 50}

class Thermostat:
    """Ideal bang-bang thermostat per zone on true temperatures: on below `on_c`, off at `off_c`."""

    def __init__(self, name: str, station: StationParams, on_c: list[float], off_c: list[float]) -> None:
        self.name = name
        self.station = station
        self.on_c = on_c
        self.off_c = off_c
        self.heat = [False] * len(station.zones)
        self.guards = station.charge_guard_indexes()

    def step(self, k: int, t_s: float, tod_s: int, plant: ThermalPlant, demand: bool,
             session: bool, charging: bool, dt_s: float = DT_S) -> tuple[bool, list[float]]:
        """Switch each heater; charging is allowed when every guarding zone is at its minimum."""
        temps = plant.temps_c
        for i in range(len(temps)):
            if temps[i] < self.on_c[i]:
                self.heat[i] = True
            elif temps[i] >= self.off_c[i]:
                self.heat[i] = False
        allowed = all(temps[i] >= self.station.zones[i].min_c for i in self.guards)
        return allowed, [1.0 if h else 0.0 for h in self.heat]


class Oracle:
    """Knows every arrival and the plant: heats at the last moment, otherwise drifts to -38 C.

    Backwards from each served session, `req[i][k]` is the lowest temperature zone i may have at
    step k and still be at its minimum from the step before the arrival to the end of the
    session with full heating; forwards, each step uses the least duty that keeps the zone at or
    above both that requirement and the drift floor.
    """

    name = "oracle"

    def __init__(self, station: StationParams, climate: Climate, arr: list[Arrival], n: int) -> None:
        self.station = station
        self.climate = climate
        self.guards = station.charge_guard_indexes()
        need = [False] * (n + 2)
        charging = [False] * (n + 2)
        busy_until = -1.0
        for a in arr:
            if a.t_s < busy_until:
                continue
            # Served at the arrival (the simulation steps at it), so busy until exactly then.
            k_a = math.ceil(a.t_s / DT_S)
            busy_until = a.t_s + a.session_s
            k_end = math.ceil(busy_until / DT_S)
            for k in range(max(0, k_a - 1), min(n + 1, k_end + 1)):
                need[k] = True
            for k in range(k_a, min(n + 1, k_end)):
                charging[k] = True
        self.req: list[list[float]] = []
        for i in range(len(station.zones)):
            z = station.zones[i]
            req = [-math.inf] * (n + 2)
            if i in self.guards:
                nxt = -math.inf
                for k in range(n, -1, -1):
                    r = -math.inf
                    if nxt > -math.inf:
                        ta, wind = climate.at(k * DT_S)
                        ua = z.ua(wind)
                        t_eq = ta + (z.heater_w + z.internal_w(charging[k], station.charge_power_w)) / ua
                        e = math.exp(-DT_S * ua / z.c_j_per_k)
                        r = t_eq + (nxt - t_eq) / e
                    if need[k]:
                        r = max(r, z.min_c + 0.02)
                    req[k] = r
                    nxt = r
            self.req.append(req)

    def step(self, k: int, t_s: float, tod_s: int, plant: ThermalPlant, demand: bool,
             session: bool, charging: bool, dt_s: float = DT_S) -> tuple[bool, list[float]]:
        """Least constant duty per zone meeting the requirement at the next minute."""
        ta, wind = self.climate.at(t_s)
        rem = (k + 1) * DT_S - t_s      # a step may start inside a minute (arrivals, waits)
        duties = []
        for i, z in enumerate(self.station.zones):
            target = max(self.req[i][k + 1], FLOOR_C)
            ua = z.ua(wind)
            e = math.exp(-rem * ua / z.c_j_per_k)
            base = ta + z.internal_w(charging, self.station.charge_power_w) / ua
            t_now = plant.temps_c[i]
            t_off = base + (t_now - base) * e
            if t_off >= target:
                duties.append(0.0)
                continue
            gain = (z.heater_w / ua) * (1 - e)   # temperature gained at the next step at full duty
            duties.append(min(1.0, (target - t_off) / gain))
        allowed = all(plant.temps_c[i] >= self.station.zones[i].min_c for i in self.guards)
        return allowed, duties


@dataclass
class Result:
    """What one controller did in one scenario."""

    energy_kwh: float = 0.0
    waits_s: list[float] = field(default_factory=list)
    balked: int = 0
    violations: int = 0
    violation_min: int = 0
    expect: float = 0.0          # arrivals expected while idle (rate integrated over idle time)
    out_of_reach: float = 0.0    # ... of which a plug-in would have waited longer than 60 s
    trace: dict | None = None
    # Where the heat went, kWh per "<zone>_<part>": idle_partial (standing by or holding at
    # partial duty), idle_full (heating up at full duty while idle: pre-heat, or a bang-bang
    # thermostat's every pulse) and session (an EV plugged in, waiting or charging).
    heat_kwh: dict[str, float] = field(default_factory=dict)

    def out_of_reach_share(self) -> float:
        """Expected share of arrivals that wait longer than 60 s, from the zones' temperatures.

        Unlike the served share, this does not hang on where the seeded arrivals happened to
        fall (on ~500 arrivals one seed's served share scatters by about +-0.4 points); it is
        the axis of `bench.thermal_frontier`'s lower bound."""
        return self.out_of_reach / self.expect if self.expect > 0 else 0.0

    def served_share(self, limit_s: float = 60.0) -> float:
        """Share of arrivals that could charge within `limit_s`."""
        if not self.waits_s:
            return 1.0
        return sum(1 for w in self.waits_s if w <= limit_s) / len(self.waits_s)

    def pct(self, q: float) -> float:
        """Nearest-rank percentile of the waits, seconds."""
        if not self.waits_s:
            return 0.0
        s = sorted(self.waits_s)
        return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))]


def simulate(station: StationParams, climate: Climate, arr: list[Arrival], ctl, score_from_s: float = 0.0,
             trace: bool = False, noise_counts: float = 0.5) -> Result:
    """Run one controller over one climate series with the given arrivals.

    Steps are one minute, except that a step starts at each arrival (the controller learns of the
    plug-in when it happens, as a device polling every second would) and steps are DT_WAIT_S
    while a driver waits, so that waits are measured to DT_WAIT_S rather than to a minute.
    """
    end = int(climate.duration_s // DT_S) * DT_S
    t0_c, _ = climate.at(0)
    plant = ThermalPlant(station, t0_c, noise_counts=noise_counts, seed=7)
    zones = station.zones
    guards = station.charge_guard_indexes()
    mins = [zones[i].min_c for i in guards]
    slots = [(f"{z.name}_session", f"{z.name}_idle_full", f"{z.name}_idle_partial") for z in zones]
    res = Result()
    tr: dict | None = ({"t": [], "amb": [], "temps": [], "duty": [], "plugged": [], "charging": []}
                       if trace else None)
    lam_h = [station.arrivals_per_day * w / sum(HOURLY_WEIGHTS) for w in HOURLY_WEIGHTS]
    ai = 0
    sess: list | None = None     # [arrival_s, remaining_s, waiting, scored]
    in_violation = False
    e_start = 0.0
    scoring = score_from_s <= 0
    t = 0.0
    while t < end:
        k = int(t // DT_S)
        if not scoring and t >= score_from_s:
            scoring = True
            e_start = sum(plant.heater_energy_j)
        amb, wind = climate.at(t)
        tod = climate.seconds_of_day(t)
        demand = False
        while ai < len(arr) and arr[ai].t_s <= t:
            a = arr[ai]
            ai += 1
            if sess is None:
                sess = [a.t_s, a.session_s, True, a.t_s >= score_from_s]
                demand = True
            elif a.t_s >= score_from_s:
                res.balked += 1
        nxt = float((k + 1) * DT_S)
        if ai < len(arr) and arr[ai].t_s < nxt:
            nxt = arr[ai].t_s
        if sess is not None and sess[2]:
            nxt = min(nxt, t + DT_WAIT_S)
        dt = nxt - t
        charging_before = sess is not None and not sess[2]
        allowed, duties = ctl.step(k, t, tod, plant, demand, sess is not None, charging_before, dt_s=dt)
        closed = False
        if sess is not None:
            if sess[2] and allowed:
                sess[2] = False
                if sess[3]:
                    res.waits_s.append(max(0.0, t - sess[0]))
            if not sess[2] and allowed:
                closed = True
                sess[1] -= dt
        temps_before = [plant.temps_c[i] for i in guards]
        if sess is None and scoring:
            lam = lam_h[tod // 3600] * dt / 3600
            res.expect += lam
            if any(tb < reach_c(zones[i], amb, wind) for tb, i in zip(temps_before, guards, strict=True)):
                res.out_of_reach += lam
        e_before = list(plant.heater_energy_j)
        plant.step(dt, duties, closed, amb, wind)
        if scoring:
            for i, (s_sess, s_full, s_part) in enumerate(slots):
                de = plant.heater_energy_j[i] - e_before[i]
                if de > 0:
                    slot = s_sess if sess is not None else s_full if duties[i] >= 0.999 else s_part
                    res.heat_kwh[slot] = res.heat_kwh.get(slot, 0.0) + de / 3.6e6
        if closed:
            bad = any(tb < m for tb, m in zip(temps_before, mins, strict=True)) or any(
                plant.temps_c[i] < m for i, m in zip(guards, mins, strict=True))
            if bad and scoring:
                res.violation_min += 1
                if not in_violation:
                    res.violations += 1
            in_violation = bad
        else:
            in_violation = False
        if tr is not None and scoring:
            tr["t"].append(t - score_from_s)
            tr["amb"].append(amb)
            tr["temps"].append(list(plant.temps_c))
            tr["duty"].append(list(duties))
            tr["plugged"].append(sess is not None)
            tr["charging"].append(closed)
        if sess is not None and not sess[2] and sess[1] <= 0:
            sess = None
        t = nxt
    res.energy_kwh = (sum(plant.heater_energy_j) - e_start) / 3.6e6
    res.trace = tr
    return res


def reach_c(z: ZoneParams, amb: float, wind: float, secs: float = 60.0) -> float:
    """Lowest temperature from which the zone's full heater reaches its minimum within secs
    (idle; the minimum itself where the heater cannot win against the loss)."""
    ua = z.ua(wind)
    t_eq = amb + (z.heater_w + z.internal_idle_w) / ua
    return min(z.min_c, t_eq - (t_eq - z.min_c) * math.exp(secs * ua / z.c_j_per_k))


def frostgrid_config(station: StationParams, **overrides) -> dict:
    """The firmware configuration Frostgrid runs with in this benchmark.

    Release 0.2 K above the minimum (the drop margin is 0.1 K; the emulated sensor resolves
    ~0.05 K), and an idle standby from which a plug-in is released within WAIT_S. WAIT_S is also
    what the firmware counts a miss against, so it is the goal's 60 s; the standby depth is set
    by NEAR_PCT (it was WAIT_S 50 with the firmware's 60 %: the same depth, but waits of 50-60 s,
    which the goal allows, counted as misses and drove V up: AC-7 10.15 -> 9.58 kWh). Any half
    hour may be left cold (QUIET_SHARE_PM 1000; the firmware's default keeps drifts to the
    quietest 6 %, nights): the drift rule weighs the heat saved against V x the arrivals
    expected, and the quiet bins were a safety net for a saving over-estimated on zones still
    warm from a session (fixed in `Thermal._plan`).
    """
    return firmware_config(station, hyst_k=overrides.pop("hyst_k", RELEASE_K),
                           **{"wait_s": WAIT_S, "near_pct": NEAR_PCT, "miss_budget_pm": MISS_BUDGET_PM,
                              "quiet_share_pm": QUIET_SHARE_PM, **overrides})


def _controllers(station: StationParams, climate: Climate, arr: list[Arrival], mpy_dir: Path,
                 hist_hex: str | None, eco: bool, learned_hex: str | None = None):
    n = int(climate.duration_s // DT_S)
    zs = station.zones
    yield Thermostat("industrial", station, [5.0] * len(zs), [7.0] * len(zs))
    yield Thermostat("minimum", station, [z.min_c for z in zs], [z.min_c + 2.0 for z in zs])
    yield Oracle(station, climate, arr, n)
    yield FirmwareThermal(mpy_dir, station, frostgrid_config(station), hist_hex=hist_hex,
                          learned_hex=learned_hex)
    if eco:
        for name, over in TRADEOFF.items():
            yield FirmwareThermal(mpy_dir, station, frostgrid_config(station, **over),
                                  hist_hex=hist_hex, name=f"frostgrid_{name}")


def run_scenario(station: StationParams, climate: Climate, seed: int, mpy_dir: Path,
                 score_from_s: float = 0.0, hist_hex: str | None = None,
                 trace: bool = False, eco: bool = False,
                 learned_hex: str | None = None) -> tuple[dict[str, Result], dict]:
    """All four controllers on one station and climate, same arrivals (Frostgrid starting from a
    saved arrival pattern and learned state when given, as after a reboot)."""
    arr = arrivals(station, climate.duration_s, climate.seconds_of_day(0), seed)
    out: dict[str, Result] = {}
    fg_report: dict = {}
    for ctl in _controllers(station, climate, arr, mpy_dir, hist_hex, eco, learned_hex):
        res = simulate(station, climate, arr, ctl, score_from_s,
                       trace=trace and ctl.name == "frostgrid")
        out[ctl.name] = res
        if isinstance(ctl, FirmwareThermal):
            if ctl.name == "frostgrid":
                fg_report = ctl.report()
                fg_report["heap_controller_bytes"] = ctl.created["heap_bytes"]
            ctl.close()
    return out, fg_report


def run_station(key: str) -> dict:
    """Every scenario for one station (runs in its own process)."""
    station = {"ac7": AC7, "dc60": DC60}[key]
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fg_bench_") as tmp:
        mpy_dir = build_mpy(Path(tmp))
        heihe = load("heihe_winter")
        res_h, rep_h = run_scenario(station, heihe, SEEDS["heihe"] + STATION_SEED[key], mpy_dir,
                                    eco=True)
        mohe = load("mohe_winter")
        first = mohe.coldest_window(7 * 24)
        burn = min(first, BURN_IN_DAYS * 24)
        week = mohe.slice_days(first - burn, burn + 7 * 24, name="mohe_cold_week")
        res_w, rep_w = run_scenario(station, week, SEEDS["mohe"] + STATION_SEED[key], mpy_dir,
                                    score_from_s=burn * 3600.0, trace=True)
        design = load("mohe_design_48h")
        res_d, rep_d = run_scenario(station, design, SEEDS["mohe_design"] + STATION_SEED[key], mpy_dir,
                                    hist_hex=rep_h.get("hist"), learned_hex=rep_h.get("learned"))
    return {"key": key, "heihe": res_h, "mohe": res_w, "mohe_design": res_d,
            "report": {"heihe": rep_h, "mohe": rep_w, "mohe_design": rep_d},
            "week_start": week.when(burn * 3600.0).isoformat(),
            "runtime_s": time.perf_counter() - t_start}


def figures(out: dict) -> dict[str, float]:
    """The benchmark's named figures for one station."""
    key = out["key"]
    fig: dict[str, float] = {}
    for scen, infix in (("heihe", ""), ("mohe", "mohe_"), ("mohe_design", "mohe_design_")):
        res: dict[str, Result] = out[scen]
        p = f"{key}_{infix}"
        for name in ("industrial", "minimum", "frostgrid", "oracle"):
            fig[f"{p}energy_kwh_{name}"] = round(res[name].energy_kwh, 3)
        fg = res["frostgrid"]
        fig[f"{p}served_60s_share"] = round(fg.served_share(), 4)
        fig[f"{p}out_of_reach_share"] = round(fg.out_of_reach_share(), 4)
        fig[f"{p}wait_p95_s"] = round(fg.pct(95), 1)
        fig[f"{p}wait_p99_s"] = round(fg.pct(99), 1)
        # The longest a driver waited: p99 hides it, and during a drift it is the re-heat the
        # drift promised to keep within drift_reheat_max_min.
        fig[f"{p}wait_max_s"] = round(fg.pct(100), 1)
        fig[f"{p}interlock_violations"] = fg.violations
        fig[f"{p}arrivals_scored"] = len(fg.waits_s)
        mn = res["minimum"].energy_kwh
        orc = res["oracle"].energy_kwh
        fig[f"{p}saving_vs_minimum_pct"] = round(100 * (1 - fg.energy_kwh / mn), 1) if mn > 0 else 0.0
        fig[f"{p}ratio_to_oracle"] = round(fg.energy_kwh / orc, 2) if orc > 0 else math.inf
        for name in ("industrial", "minimum", "oracle"):
            r = res[name]
            fig[f"{p}served_60s_share_{name}"] = round(r.served_share(), 4)
            fig[f"{p}out_of_reach_share_{name}"] = round(r.out_of_reach_share(), 4)
            fig[f"{p}wait_p95_s_{name}"] = round(r.pct(95), 1)
            fig[f"{p}wait_p99_s_{name}"] = round(r.pct(99), 1)
            fig[f"{p}interlock_violations_{name}"] = r.violations
    for name in ("minimum", "frostgrid"):
        # Per zone and state, Heihe winter: the breakdown docs/thermal.md sets beside the bounds.
        for part, kwh in sorted(out["heihe"][name].heat_kwh.items()):
            fig[f"{key}_heat_kwh_{name}_{part}"] = round(kwh, 3)
    mn = out["heihe"]["minimum"].energy_kwh
    for name, r in out["heihe"].items():
        if not name.startswith("frostgrid_"):
            continue
        v = name[len("frostgrid_"):]
        fig[f"{key}_tradeoff_{v}_energy_kwh"] = round(r.energy_kwh, 3)
        fig[f"{key}_tradeoff_{v}_saving_vs_minimum_pct"] = round(100 * (1 - r.energy_kwh / mn), 1)
        fig[f"{key}_tradeoff_{v}_served_60s_share"] = round(r.served_share(), 4)
        fig[f"{key}_tradeoff_{v}_out_of_reach_share"] = round(r.out_of_reach_share(), 4)
        fig[f"{key}_tradeoff_{v}_wait_p95_s"] = round(r.pct(95), 1)
        fig[f"{key}_tradeoff_{v}_wait_p99_s"] = round(r.pct(99), 1)
        fig[f"{key}_tradeoff_{v}_wait_max_s"] = round(r.pct(100), 1)
        fig[f"{key}_tradeoff_{v}_interlock_violations"] = r.violations
    rep = out["report"]["heihe"]
    fig[f"{key}_controller_heap_bytes"] = rep.get("heap_controller_bytes", 0)
    fig[f"{key}_mp_heap_total_bytes"] = rep.get("heap_total", 0)
    fig[f"{key}_wait_value_wh_end"] = rep.get("value_wh", 0)
    return fig


def _unit(name: str) -> str:
    for frag, unit in (("energy_kwh", "kWh"), ("heat_kwh", "kWh"), ("served_60s_share", "share"),
                       ("reach_share", "share"), ("wait_p", "s"), ("wait_max", "s"),
                       ("violations", "count"), ("heap", "bytes"), ("_pct", "%"), ("ratio", "x"),
                       ("value_wh", "Wh"), ("arrivals", "count"), ("runtime", "s")):
        if frag in name:
            return unit
    return ""


def plot_week(outs: list[dict], path: Path) -> None:
    """Ambient, zone temperatures, heater duty and sessions of the Mohe cold week, both stations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(outs), figsize=(8 * len(outs), 10), sharex=True)
    for col, out in enumerate(outs):
        station = {"ac7": AC7, "dc60": DC60}[out["key"]]
        tr = out["mohe"]["frostgrid"].trace
        hours = [t / 3600 for t in tr["t"]]
        ax = axes[0][col]
        ax.plot(hours, tr["amb"], color="0.4", lw=0.8, label="ambient")
        for i, z in enumerate(station.zones):
            line, = ax.plot(hours, [x[i] for x in tr["temps"]], lw=0.9, label=z.name)
            ax.axhline(z.min_c, color=line.get_color(), ls=":", lw=0.7)
        ax.set_ylabel("°C")
        ax.set_title(f"{station.name}, Frostgrid, Mohe coldest week from {out['week_start'][:10]}")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[1][col]
        for i, z in enumerate(station.zones):
            ax.plot(hours, [x[i] for x in tr["duty"]], lw=0.6, label=z.name)
        ax.set_ylabel("heater duty")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[2][col]
        ax.fill_between(hours, [1 if p else 0 for p in tr["plugged"]], step="post", alpha=0.3,
                        label="EV plugged in")
        ax.fill_between(hours, [1 if c else 0 for c in tr["charging"]], step="post", alpha=0.6,
                        label="charging")
        ax.set_ylabel("session")
        ax.set_xlabel("hours into the week")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    """Run everything, print the figures, write JSON and the plot."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        outs = list(pool.map(run_station, ["ac7", "dc60"]))
    allfig: dict[str, float] = {}
    for out in outs:
        allfig.update(figures(out))
    allfig["runtime_s"] = round(time.perf_counter() - t0, 1)
    for out in outs:
        key = out["key"]
        for scen, title in (("heihe", "Heihe winter"), ("mohe", "Mohe coldest week"),
                            ("mohe_design", "Mohe design 48 h")):
            print(f"# {key} {title}")
            for name, r in out[scen].items():
                print(f"{key}_{scen}_{name}: energy {r.energy_kwh:.2f} kWh, served<=60s "
                      f"{100 * r.served_share():.1f} % (out of reach {100 * r.out_of_reach_share():.2f} %), "
                      f"p95 {r.pct(95):.0f} s, p99 {r.pct(99):.0f} s, max {r.pct(100):.0f} s, "
                      f"violations {r.violations}, arrivals {len(r.waits_s)}, balked {r.balked}")
    for name, value in allfig.items():
        print(f"{name}: {value} {_unit(name)}".rstrip())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "thermal.json").write_text(json.dumps(allfig, indent=1, sort_keys=True) + "\n")
    try:
        plot_week(outs, RESULTS / "thermal_week.png")
        print(f"plot: {RESULTS / 'thermal_week.png'}")
    except ImportError:
        print("plot: skipped (matplotlib not installed)")
    for out in outs:
        print(f"{out['key']}_learned_models: {out['report']['heihe'].get('models')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
