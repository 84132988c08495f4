"""Properties of the thermal controller, generated in CPython and executed in MicroPython.

The firmware's `thermal.Thermal` runs inside the real MicroPython interpreter (through
`cases_thermal.run_sequence`); CPython generates random sensor readings, time steps, times of day,
demand and charging, and checks every step against the CPython reference conversion of the counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MicroPythonWorker
from hil_tests.thermal_plant import NTC_CONFIG, ntc_counts, ntc_temp_c

ZONES = [
    {"name": "electronics", "sensor": 0, "heater_w": 60, "min_c": -20, "hyst_k": 2, "cutoff_c": 60,
     "guards": "contactor"},
    {"name": "connector", "sensor": 1, "heater_w": 20, "min_c": -30, "hyst_k": 2, "cutoff_c": 50,
     "guards": "contactor"},
    {"name": "display", "sensor": 2, "heater_w": 5, "min_c": -20, "hyst_k": 2, "cutoff_c": 60,
     "guards": "display"},
]
CONFIG = {"sensors": [dict(NTC_CONFIG, channel=i) for i in range(3)], "zones": ZONES,
          "stuck_min": 5, "heater_check_min": 3, "disagree_s": 60}
GUARD_BITS = {"contactor": 1, "display": 2, "power": 4}


def config(standby: bool) -> dict:
    """The station's configuration, or the benchmark's: 0.2 K release and idle standby (wait_s)."""
    if not standby:
        return CONFIG
    zones = [dict(z, hyst_k=0.2) for z in ZONES]
    return dict(CONFIG, zones=zones, wait_s=60)
FULL_SCALE = 4095
T_LO, T_HI = -60.0, 150.0     # the firmware's table range; outside it a reading is a fault


def steps(out: list[int], n_zones: int = 3) -> list[tuple[int, list[int], list[int]]]:
    """Unpack run_sequence's flat result into (allowed bits, duties, fault bits) per step."""
    w = 1 + 2 * n_zones
    return [(out[i], out[i + 1:i + 1 + n_zones], out[i + 1 + n_zones:i + w]) for i in range(0, len(out), w)]


@pytest.fixture(scope="module")
def mp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter for all generated cases."""
    worker = MicroPythonWorker(cwd=tmp_path_factory.mktemp("mp_thermal"))
    yield worker
    worker.close()


def reading_c(counts: int) -> float | None:
    """CPython reference: the temperature a count stands for, None for open/short circuit."""
    if counts <= 0 or counts >= FULL_SCALE:
        return None
    t = ntc_temp_c(counts)
    return t if T_LO <= t <= T_HI else None


@st.composite
def sensor_track(draw: st.DrawFn, n: int) -> list[int]:
    """Counts of one sensor over n steps: a random walk with jumps, opens, shorts and freezes."""
    t = draw(st.floats(-50, 70))
    out: list[int] = []
    frozen: int | None = None
    for _ in range(n):
        kind = draw(st.sampled_from(["walk"] * 8 + ["jump", "open", "short", "freeze", "raw"]))
        if kind == "walk":
            t = min(140.0, max(-55.0, t + draw(st.floats(-3, 3))))
        elif kind == "jump":
            t = draw(st.floats(-55, 140))
        if kind == "open":
            out.append(FULL_SCALE)
        elif kind == "short":
            out.append(0)
        elif kind == "raw":
            out.append(draw(st.integers(0, FULL_SCALE)))
        else:
            c = round(ntc_counts(t))
            if kind == "freeze" or frozen is not None:
                frozen = c if frozen is None else frozen
                c = frozen
                if draw(st.booleans()):
                    frozen = None
            out.append(c)
    return out


@st.composite
def sequences(draw: st.DrawFn) -> list[list]:
    """A run of controller steps: [dt_ms, counts per sensor, tod_s, flags]."""
    n = draw(st.integers(1, 40))
    tracks = [draw(sensor_track(n)) for _ in range(3)]
    seq = []
    tod = draw(st.integers(-1, 86399))
    for i in range(n):
        dt = draw(st.sampled_from([0, 1000, 5000, 60000, 60000, 600000, 900000]))
        if tod >= 0:
            tod = (tod + dt // 1000) % 86400
        flags = draw(st.integers(0, 3))
        seq.append([dt, [tracks[s][i] for s in range(3)], tod, flags])
    return seq


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(seq=sequences(), standby=st.booleans())
def test_interlock_never_released_on_a_cold_or_faulted_guarding_zone(mp: MicroPythonWorker, seq,
                                                                     standby) -> None:
    """Released => every guarding zone reads a valid temperature at or above its minimum."""
    out = mp.call("cases_thermal", "run_sequence", config(standby), seq)
    for (_, counts, _, _), (allowed, _duties, faults) in zip(seq, steps(out), strict=True):
        for zi, z in enumerate(ZONES):
            bit = GUARD_BITS[z["guards"]]
            if not allowed & bit:
                continue
            r = reading_c(counts[z["sensor"]])
            assert r is not None, f"{z['name']} released with a faulted reading"
            assert r >= z["min_c"], f"{z['name']} released at {r:.2f} C"
            assert faults[zi] & 0x3F == 0, f"{z['name']} released with faults {faults[zi]}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(seq=sequences(), standby=st.booleans())
def test_duty_stays_within_range_and_overtemperature_forces_heaters_off(mp: MicroPythonWorker, seq,
                                                                        standby) -> None:
    """Duty is a per mille in [0, 1000]; a reading at or above the cut-off means heater off."""
    out = mp.call("cases_thermal", "run_sequence", config(standby), seq)
    for (_, counts, _, _), (_allowed, duties, faults) in zip(seq, steps(out), strict=True):
        assert all(0 <= d <= 1000 for d in duties)
        for zi, z in enumerate(ZONES):
            r = reading_c(counts[z["sensor"]])
            if r is not None and r >= z["cutoff_c"]:
                assert duties[zi] == 0, f"{z['name']} heating at {r:.1f} C"
                assert faults[zi] & 64


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(1, FULL_SCALE - 1), min_size=1, max_size=60),
       topology=st.sampled_from(["pullup", "pulldown"]), r_fixed=st.sampled_from([4700, 10000, 22000]),
       beta=st.sampled_from([3380, 3435, 3950, 4100]))
def test_ntc_conversion_matches_the_cpython_reference(mp: MicroPythonWorker, counts, topology, r_fixed,
                                                      beta) -> None:
    """The firmware's integer table agrees with the exact Beta equation within 0.05 K."""
    cfg = dict(NTC_CONFIG, topology=topology, r_fixed=r_fixed, beta=beta)
    got = mp.call("cases_thermal", "ntc_cc", cfg, counts)
    for c, cc in zip(counts, got, strict=True):
        ref = ntc_temp_c(c, cfg)
        if T_LO + 0.1 < ref < T_HI - 0.1:
            assert cc > -30000, f"{c} counts ({ref:.2f} C) read as a fault"
            assert abs(cc / 100 - ref) < 0.05, (c, cc, ref)
        elif ref < T_LO - 0.1 or ref > T_HI + 0.1:
            assert cc <= -30000, f"{c} counts ({ref:.2f} C) read as {cc}"
