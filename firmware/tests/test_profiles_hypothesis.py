"""Properties of the charging-profile stack, generated in CPython and executed in MicroPython.

Random sets of ChargePointMax, TxDefault and Tx profiles (every kind, validity windows,
durations, A and W, minimum charging rates, negative limits) go to the firmware's `profiles.py`
through `mp/cases_profiles.py`; each answer is checked against the OCPP 1.6 rules written here
straight from the specification's wording, one time at a time:
- the limit is that of the highest stack level valid at that time (TxProfile over TxDefaultProfile,
  a connector's own TxDefaultProfile over connector 0's), bounded by the ChargePointMaxProfile;
- the composite never exceeds any active ChargePointMaxProfile or the winning Tx-level profile;
- the limit holds unchanged until the time the firmware says it may change next;
- the composite schedule's periods carry the limit in force at their start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MicroPythonWorker

T0 = 1_768_888_800  # 2026-01-20T06:00:00Z
VOLTS = 230
CYCLE = {1: 86_400, 2: 604_800}
TXID = 77
HORIZON = 3 * 86_400


@pytest.fixture(scope="module")
def mp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter for all generated cases."""
    worker = MicroPythonWorker(cwd=tmp_path_factory.mktemp("mp_profiles"))
    yield worker
    worker.close()


@st.composite
def profile(draw: st.DrawFn, pid: int, purpose: int, cid: int, stack: int) -> list[Any]:
    """One profile in profiles.py's layout."""
    kind = draw(st.integers(0, 3))
    unit = draw(st.integers(0, 1))
    n = draw(st.integers(1, 4))
    starts = [0] + sorted(draw(st.sets(st.integers(1, 7_200), min_size=n - 1, max_size=n - 1)))
    lo, hi = (-320, 320) if unit == 0 else (-22_000, 22_000)
    periods: list[int] = []
    for s in starts:
        periods += [s, draw(st.integers(lo * 10, hi * 10)), draw(st.integers(1, 3))]
    vfrom = draw(st.one_of(st.just(0), st.integers(T0 - 3_600, T0 + HORIZON)))
    vto = draw(st.one_of(st.just(0), st.integers(T0, T0 + HORIZON + 3_600)))
    start = 0 if kind == 3 else draw(st.integers(T0 - 2 * 86_400, T0 + 86_400))
    dur = draw(st.one_of(st.just(0), st.integers(60, 20_000)))
    minr = draw(st.one_of(st.just(0), st.integers(1, 60 if unit == 0 else 4_000))) * 10
    txid = draw(st.sampled_from([0, TXID, TXID + 1])) if purpose == 2 else 0
    return [pid, cid, purpose, stack, kind, vfrom, vto, start, dur, unit, minr, txid, periods]


@st.composite
def profile_sets(draw: st.DrawFn) -> list[list[Any]]:
    """Up to 8 profiles, unique in (purpose, connector, stack level) as installing makes them."""
    slots = draw(st.sets(st.tuples(st.sampled_from([(0, 0), (1, 0), (1, 1), (2, 1)]), st.integers(0, 4)),
                         min_size=1, max_size=8))
    return [draw(profile(i + 1, pc[0], pc[1], stack)) for i, (pc, stack) in enumerate(sorted(slots))]


def ref_one(p: list[Any], t: int, tx_s: int | None) -> int | None:
    """One profile's limit in W at `t`, or None: the specification's rules, read literally."""
    _, _, _, _, kind, vfrom, vto, start, dur, unit, minr, _, periods = p
    if (vfrom and t < vfrom) or (vto and t >= vto):
        return None
    if kind == 3:
        if tx_s is None:
            return None
        s0 = tx_s
    elif kind == 0:
        s0 = start
    else:
        if t < start:
            return None
        s0 = start + (t - start) // CYCLE[kind] * CYCLE[kind]
    el = t - s0
    if el < 0 or (dur and el >= dur):
        return None
    chosen = [periods[i:i + 3] for i in range(0, len(periods), 3) if periods[i] <= el]
    if not chosen:
        return None
    _, lim10, phases = chosen[-1]
    if minr and 0 < lim10 < minr:
        lim10 = 0
    if unit == 0:  # amps: never below 0 (discharge is asked in W only)
        return max(0, lim10) * VOLTS * phases // 10
    return lim10 // 10


def ref_parts(profs: list[list[Any]], t: int, txid: int | None, tx_s: int | None
              ) -> tuple[int | None, int | None]:
    """(cap from the ChargePointMaxProfile, limit of the winning Tx-level profile) at `t`."""
    def top(cands: list[list[Any]]) -> int | None:
        live = [(p[3], ref_one(p, t, tx_s)) for p in cands]
        live = [x for x in live if x[1] is not None]
        return max(live)[1] if live else None

    cap = top([p for p in profs if p[2] == 0])
    tx = None
    if tx_s is not None:
        tx = top([p for p in profs if p[2] == 2 and p[11] in (0, txid)])
    if tx is None:
        tx = top([p for p in profs if p[2] == 1 and p[1] == 1])
    if tx is None:
        tx = top([p for p in profs if p[2] == 1 and p[1] == 0])
    return cap, tx


def reference(profs: list[list[Any]], t: int, txid: int | None, tx_s: int | None) -> int | None:
    """The composite limit at `t`: the Tx-level limit bounded by the cap, in both directions."""
    cap, lim = ref_parts(profs, t, txid, tx_s)
    if cap is None:
        return lim
    if lim is None or lim > cap:
        return cap
    return max(lim, -cap) if cap >= 0 else lim


_times = st.lists(st.integers(T0 - 3_600, T0 + HORIZON), min_size=1, max_size=12)
_tx = st.sampled_from([(None, None), (TXID, T0 - 600), (TXID, T0 + 5_000)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profs=profile_sets(), times=_times, tx=_tx)
def test_limit_is_the_highest_stack_level_valid_at_that_time_bounded_by_the_cap(
        mp: MicroPythonWorker, profs: list[list[Any]], times: list[int], tx: tuple[Any, Any]) -> None:
    txid, tx_s = tx
    got = mp.call("cases_profiles", "limits", profs, times, txid, tx_s, VOLTS)
    for t, (lim, _) in zip(times, got, strict=True):
        assert lim == reference(profs, t, txid, tx_s), (t, lim)
        cap, tx_lim = ref_parts(profs, t, txid, tx_s)
        if lim is not None and cap is not None:
            assert lim <= cap and (cap < 0 or lim >= -cap), "the composite exceeds the active cap"
        if lim is not None and tx_lim is not None:
            assert lim <= tx_lim or lim == -cap, "the composite exceeds the winning profile's limit"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profs=profile_sets(), t=st.integers(T0 - 3_600, T0 + HORIZON), tx=_tx,
       probes=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_the_limit_holds_until_the_next_change_the_firmware_reports(
        mp: MicroPythonWorker, profs: list[list[Any]], t: int, tx: tuple[Any, Any],
        probes: list[float]) -> None:
    txid, tx_s = tx
    (lim, nxt), = mp.call("cases_profiles", "limits", profs, [t], txid, tx_s, VOLTS)
    assert nxt == 0 or nxt > t
    end = nxt if nxt else t + HORIZON
    for f in probes:
        u = t + int(f * (end - t - 1))
        assert reference(profs, u, txid, tx_s) == lim, (u, nxt)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profs=profile_sets(), t0=st.integers(T0 - 3_600, T0 + 86_400), dur=st.integers(1, 2 * 86_400), tx=_tx)
def test_composite_schedule_periods_carry_the_limit_in_force_at_their_start(
        mp: MicroPythonWorker, profs: list[list[Any]], t0: int, dur: int, tx: tuple[Any, Any]) -> None:
    txid, tx_s = tx
    default_w = 22_000
    out = mp.call("cases_profiles", "composite", profs, t0, dur, txid, tx_s, VOLTS, default_w)
    assert out and out[0][0] == 0
    starts = [s for s, _ in out]
    assert starts == sorted(set(starts)) and all(s < dur for s in starts)
    for (s, w), nxt in zip(out, [*starts[1:], None], strict=True):
        ref = reference(profs, t0 + s, txid, tx_s)
        assert w == (default_w if ref is None else ref), (s, w)
        if nxt is not None:  # a period ends where the limit changes
            ref_before = reference(profs, t0 + nxt - 1, txid, tx_s)
            assert (default_w if ref_before is None else ref_before) == w
