"""`bench.bench_thermal.figures` names what the issue asks for and scores waits as they were."""

from __future__ import annotations

from bench.bench_thermal import Result, figures


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
