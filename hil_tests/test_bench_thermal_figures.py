"""`bench.bench_thermal.figures` names what the issue asks for and scores waits as they were."""

from __future__ import annotations

from bench.bench_thermal import Result, Thermostat, figures, simulate
from hil_tests.climate import load
from hil_tests.thermal_plant import AC7, arrivals


def _res(energy: float, waits: list[float], violations: int = 0) -> Result:
    return Result(energy_kwh=energy, waits_s=list(waits), violations=violations, expect=2.0,
                  out_of_reach=0.01)


def _station() -> dict:
    # 100 drivers: 97 served at once or within a minute, three who came during drifts.
    waits = [0.0] * 90 + [35.0] * 7 + [75.0, 300.0, 1800.0]
    scen = {"industrial": _res(200.0, [0.0]), "minimum": _res(10.0, [0.0], violations=3),
            "frostgrid": _res(6.0, waits), "oracle": _res(2.0, [0.0])}
    heihe = dict(scen, frostgrid_budget20=_res(5.5, waits[:-1]))
    return {"key": "ac7", "heihe": heihe, "mohe": dict(scen), "mohe_design": dict(scen),
            "report": {"heihe": {"heap_controller_bytes": 9000, "heap_total": 50000, "value_wh": 800}}}


def test_the_named_figures_and_the_longest_wait() -> None:
    fig = figures(_station())
    for name in ("industrial", "minimum", "frostgrid", "oracle"):
        assert f"ac7_energy_kwh_{name}" in fig
    assert fig["ac7_served_60s_share"] == 0.97
    assert fig["ac7_wait_p95_s"] == 35.0
    assert fig["ac7_wait_p99_s"] == 300.0
    # p99 leaves out the driver who waited half an hour for a drift's re-heat; the maximum says it.
    assert fig["ac7_wait_max_s"] == 1800.0
    assert fig["ac7_mohe_design_wait_max_s"] == 1800.0
    assert fig["ac7_tradeoff_budget20_wait_max_s"] == 300.0
    assert fig["ac7_interlock_violations"] == 0
    assert fig["ac7_interlock_violations_minimum"] == 3
    assert fig["ac7_saving_vs_minimum_pct"] == 40.0
    assert fig["ac7_ratio_to_oracle"] == 3.0


def test_the_heat_per_zone_and_state_is_named_for_the_heihe_winter() -> None:
    out = _station()
    out["heihe"]["frostgrid"].heat_kwh = {"electronics_idle_partial": 4.0, "electronics_session": 0.5,
                                          "connector_idle_full": 1.5}
    out["heihe"]["minimum"].heat_kwh = {"electronics_idle_full": 10.0}
    fig = figures(out)
    assert fig["ac7_heat_kwh_frostgrid_electronics_idle_partial"] == 4.0
    assert fig["ac7_heat_kwh_frostgrid_connector_idle_full"] == 1.5
    assert fig["ac7_heat_kwh_minimum_electronics_idle_full"] == 10.0
    assert not any(k.startswith("ac7_heat_kwh_oracle") for k in fig)


def test_simulate_splits_every_kwh_by_zone_and_state() -> None:
    # Three days of the Mohe coldest week, AC-7 with its minimum thermostat (bang-bang: no partial
    # duty) and the industrial one; the parts add up to the station's energy.
    mohe = load("mohe_winter")
    clim = mohe.slice_days(mohe.coldest_window(72), 72)
    arr = arrivals(AC7, clim.duration_s, clim.seconds_of_day(0), 5)
    assert arr
    minimum = Thermostat("minimum", AC7, [z.min_c for z in AC7.zones], [z.min_c + 2.0 for z in AC7.zones])
    industrial = Thermostat("industrial", AC7, [5.0] * len(AC7.zones), [7.0] * len(AC7.zones))
    for ctl in (minimum, industrial):
        res = simulate(AC7, clim, arr, ctl)
        assert res.energy_kwh > 0.5
        assert abs(sum(res.heat_kwh.values()) - res.energy_kwh) < 1e-6
        assert not any(k.endswith("_idle_partial") for k in res.heat_kwh)
        assert res.heat_kwh.get("electronics_session", 0.0) > 0
        assert res.heat_kwh["electronics_idle_full"] > res.heat_kwh["electronics_session"]
