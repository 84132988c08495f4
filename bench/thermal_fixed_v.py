"""Frostgrid with V fixed: a side study for `bench_thermal`.

`python -m bench.thermal_fixed_v ac7|dc60 [V_wh ...]` (default V: 250 500 1000 2000; ~50 s a point,
two at a time) runs the benchmark's Frostgrid (`bench_thermal.frostgrid_config`) on the Heihe
winter with the benchmark's seeded arrivals, once per V, with `wait_value_learn` false: the value
of an arrival stays at the given V all winter instead of being steered toward the miss budget.

Each V is one point of the controller's own energy/service curve, free of the course the learned
V takes through the winter (which moves single-seed results by ±0.3-0.5 kWh): energy (total and
per zone), served within 60 s, out-of-reach share and p99 wait. Set beside the benchmark's learned
V and `bench.thermal_bound`'s mu sweep, it tells whether a gap lies in the V loop or in the drift
and standby rules. Prints `name: value unit` lines and writes
`bench/results/thermal_fixed_v_<station>.json`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.bench_thermal import RESULTS, SEEDS, STATION_SEED, _unit, frostgrid_config, simulate
from hil_tests.climate import load
from hil_tests.thermal_plant import STATIONS, FirmwareThermal, arrivals, build_mpy

DEFAULT_V = (250, 500, 1000, 2000)


def run_point(key: str, v_wh: int) -> dict:
    """Frostgrid with V fixed at v_wh through the Heihe winter: its figures."""
    station = STATIONS[key]
    climate = load("heihe_winter")
    arr = arrivals(station, climate.duration_s, climate.seconds_of_day(0),
                   SEEDS["heihe"] + STATION_SEED[key])
    with tempfile.TemporaryDirectory(prefix="fg_fixed_v_") as tmp:
        mpy_dir = build_mpy(Path(tmp))
        cfg = frostgrid_config(station, wait_value_wh=v_wh, wait_value_learn=False)
        ctl = FirmwareThermal(mpy_dir, station, cfg)
        try:
            res = simulate(station, climate, arr, ctl)
            rep = ctl.report()
        finally:
            ctl.close()
    if rep["value_wh"] != v_wh:
        raise RuntimeError(f"V moved from {v_wh} to {rep['value_wh']} Wh although fixed")
    out = {"energy_kwh": round(res.energy_kwh, 3), "served_60s_share": round(res.served_share(), 4),
           "out_of_reach_share": round(res.out_of_reach_share(), 4), "wait_p99_s": round(res.pct(99), 1),
           "wait_max_s": round(res.pct(100), 1), "interlock_violations": res.violations}
    for z, wh in zip(station.zones, rep["energy_wh"], strict=True):
        out[f"energy_kwh_{z.name}"] = round(wh / 1000, 3)
    return out


def main(argv: list[str]) -> int:
    """Sweep V for one station; print and write the figures."""
    if not argv or argv[0] not in STATIONS:
        print(f"usage: python -m bench.thermal_fixed_v {'|'.join(STATIONS)} [V_wh ...]", file=sys.stderr)
        return 2
    key = argv[0]
    try:
        values = [int(x) for x in argv[1:]] or list(DEFAULT_V)
    except ValueError:
        print(f"V must be whole Wh per arrival, got {argv[1:]}", file=sys.stderr)
        return 2
    if any(v < 1 or v > 20000 for v in values):
        print("V must lie within 1..20000 Wh (the firmware's range)", file=sys.stderr)
        return 2
    figures: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=2) as pool:
        for v, out in zip(values, pool.map(run_point, [key] * len(values), values), strict=True):
            print(f"# {key} V {v} Wh: energy {out['energy_kwh']:.2f} kWh, served<=60s "
                  f"{100 * out['served_60s_share']:.2f} %, out of reach "
                  f"{100 * out['out_of_reach_share']:.2f} %, p99 {out['wait_p99_s']:.0f} s, "
                  f"max {out['wait_max_s']:.0f} s", flush=True)
            for name, value in out.items():
                figures[f"{key}_v{v}_{name}"] = value
                print(f"{key}_v{v}_{name}: {value} {_unit(name)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"thermal_fixed_v_{key}.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
