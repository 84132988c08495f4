"""What a reboot costs the thermal controller: the Heihe winter with a power cut every week.

`python -m bench.thermal_reboot` (`make bench-thermal-reboot`, ~8 min) runs Frostgrid's controller
(the firmware's `.mpy` in MicroPython, as `bench.bench_thermal` does) on both reference stations over
the Heihe winter three ways, same arrivals:

- ``steady``: never rebooted (the `bench-thermal` figure);
- ``kept``: rebooted every 7 days (at the first idle step after each seventh day), the new
  controller reading back `arrivals.bin` and `learned.bin` (`firmware/thermal_state.py`) as the
  station does at boot;
- ``forgot``: rebooted as often, reading back only `arrivals.bin`: the zone models restart from the
  configured tau and heater rise, V and the miss counters from their defaults (the firmware before
  `learned.bin`).

Prints `name: value unit` lines and writes `bench/results/thermal_reboot.json`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.bench_thermal import RESULTS, SEEDS, STATION_SEED, frostgrid_config, simulate
from hil_tests.climate import load
from hil_tests.thermal_plant import AC7, DC60, FirmwareThermal, StationParams, arrivals, build_mpy

REBOOT_DAYS = 7
MODES = ("steady", "kept", "forgot")


class RebootedFirmware:
    """The firmware's controller, restarted every `every_s` of plant time while no EV is there."""

    name = "frostgrid"

    def __init__(self, mpy_dir: Path, station: StationParams, cfg: dict, every_s: float | None,
                 keep_learned: bool) -> None:
        self.mpy_dir, self.station, self.cfg = mpy_dir, station, cfg
        self.keep = keep_learned
        self.every_s = every_s
        self.next_s = every_s if every_s else float("inf")
        self.boots = 0
        self.ctl = FirmwareThermal(mpy_dir, station, cfg)

    @property
    def need(self) -> int:
        """The guard bits charging needs (as FirmwareThermal)."""
        return self.ctl.need

    def step(self, k: int, t_s: float, tod_s: int, plant, demand: bool, session: bool,
             charging: bool = False, dt_s: float = 60.0) -> tuple[bool, list[float]]:
        """One step; a due reboot happens first (only while the connector is free)."""
        if t_s >= self.next_s and not session and not demand:
            assert self.every_s
            self.next_s += self.every_s
            saved = self.ctl.report()
            self.ctl.close()
            self.ctl = FirmwareThermal(self.mpy_dir, self.station, self.cfg, hist_hex=saved["hist"],
                                       learned_hex=saved["learned"] if self.keep else None)
            want = "ok" if self.keep else "none"
            if self.ctl.created.get("learned") != want:
                raise RuntimeError(f"learned.bin read back as {self.ctl.created.get('learned')}")
            self.boots += 1
        return self.ctl.step(k, t_s, tod_s, plant, demand, session, charging, dt_s)

    def report(self) -> dict:
        """The running controller's report."""
        return self.ctl.report()

    def close(self) -> None:
        """End the MicroPython process."""
        self.ctl.close()


def run(job: tuple[str, str]) -> dict:
    """One station, one mode, the whole Heihe winter."""
    key, mode = job
    station = {"ac7": AC7, "dc60": DC60}[key]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fg_reboot_") as tmp:
        mpy_dir = build_mpy(Path(tmp))
        climate = load("heihe_winter")
        arr = arrivals(station, climate.duration_s, climate.seconds_of_day(0),
                       SEEDS["heihe"] + STATION_SEED[key])
        ctl = RebootedFirmware(mpy_dir, station, frostgrid_config(station),
                               None if mode == "steady" else REBOOT_DAYS * 86400.0, mode == "kept")
        try:
            res = simulate(station, climate, arr, ctl)
        finally:
            ctl.close()
    return {"key": key, "mode": mode, "boots": ctl.boots, "energy_kwh": round(res.energy_kwh, 3),
            "served_60s_share": round(res.served_share(), 4), "wait_p99_s": round(res.pct(99), 1),
            "out_of_reach_share": round(res.out_of_reach_share(), 4),
            "interlock_violations": res.violations, "runtime_s": round(time.perf_counter() - t0, 1)}


def main() -> int:
    """Run both stations in all three modes, print and write the figures."""
    jobs = [(key, mode) for key in ("ac7", "dc60") for mode in MODES]
    with ProcessPoolExecutor(max_workers=2) as pool:
        outs = list(pool.map(run, jobs))
    fig: dict[str, float] = {}
    for o in outs:
        p = f"{o['key']}_{o['mode']}_"
        for name in ("energy_kwh", "served_60s_share", "wait_p99_s", "out_of_reach_share",
                     "interlock_violations", "boots"):
            fig[p + name] = o[name]
    for key in ("ac7", "dc60"):
        base = fig[f"{key}_steady_energy_kwh"]
        for mode in ("kept", "forgot"):
            extra = fig[f"{key}_{mode}_energy_kwh"] / base - 1
            fig[f"{key}_{mode}_extra_energy_pct"] = round(100 * extra, 1)
    units = {"energy_kwh": "kWh", "share": "", "p99_s": "s", "pct": "%", "boots": "count",
             "violations": "count"}
    for name, value in fig.items():
        unit = next((u for suffix, u in units.items() if name.endswith(suffix)), "")
        print(f"{name}: {value} {unit}".rstrip())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "thermal_reboot.json").write_text(json.dumps(fig, indent=1, sort_keys=True) + "\n")
    print(f"# written {RESULTS / 'thermal_reboot.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
