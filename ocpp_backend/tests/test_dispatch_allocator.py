"""The V2G allocator never breaks a hard constraint, whatever the grid asks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_backend.dispatch.allocator import (
    EvState,
    Fleet,
    allocate,
    apply_step,
    spread,
    step_target_kw,
    windows,
)
from ocpp_backend.dispatch.reference import prorata

STEP_S = 300.0


@st.composite
def evs(draw: st.DrawFn) -> EvState:
    """One EV that can meet its departure need when charged at full power from now on."""
    capacity = draw(st.floats(20.0, 100.0))
    soc0 = draw(st.floats(0.05, 0.95))
    bidirectional = draw(st.booleans())
    stay_steps = draw(st.integers(1, 60))
    charge_kw = draw(st.sampled_from([3.7, 7.0, 11.0]))
    derate = draw(st.floats(0.3, 1.0))
    derated_steps = draw(st.integers(0, 6))
    eta = draw(st.floats(0.85, 0.97))
    e0 = soc0 * capacity
    # What full charging can still add before departure bounds the need we may ask for.
    reachable = e0 + eta * (
        charge_kw * derate * min(derated_steps, stay_steps) + charge_kw * max(stay_steps - derated_steps, 0)
    ) * STEP_S / 3600.0
    want = draw(st.floats(0.0, 1.0)) * capacity
    return EvState(
        ev_id=f"EV-{draw(st.integers(0, 10**6))}",
        energy_kwh=e0,
        capacity_kwh=capacity,
        required_kwh=min(want, reachable, capacity),
        reserve_kwh=draw(st.floats(0.0, 0.4)) * capacity,
        charge_kw=charge_kw,
        charge_kw_now=charge_kw * derate,
        derated_until_s=derated_steps * STEP_S,
        discharge_kw=draw(st.floats(1.0, 10.0)) if bidirectional else 0.0,
        departure_s=stay_steps * STEP_S,
        eta_charge=eta,
        eta_discharge=eta,
    )


targets = st.lists(st.one_of(st.none(), st.floats(-500.0, 500.0)), min_size=60, max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.lists(evs(), min_size=1, max_size=12), targets, st.booleans())
def test_any_target_sequence_leaves_every_ev_with_its_departure_need_and_reserve(
    fleet_evs: list[EvState], group_targets: list[float | None], ahead: bool
) -> None:
    fleet = Fleet.of(fleet_evs)
    connected = np.ones(len(fleet_evs), dtype=bool)
    for step, target in enumerate(group_targets):
        now = step * STEP_S
        leaving = connected & (fleet.departure_s <= now)
        assert (fleet.energy_kwh[leaving] >= fleet.required_kwh[leaving] - 1e-6).all()
        connected &= ~leaving
        if not connected.any():
            break
        idx = np.flatnonzero(connected)
        view = Fleet(**{name: getattr(fleet, name)[idx] for name in Fleet.__dataclass_fields__})
        result = allocate(view, now, STEP_S, target, targets_ahead=ahead)
        power = result.power_kw
        limit = np.where(now < view.derated_until_s, view.charge_kw_now, view.charge_kw)
        assert (power <= limit + 1e-9).all()
        assert (power >= -view.discharge_kw - 1e-9).all()
        after = apply_step(view, power, STEP_S)
        assert (after <= view.capacity_kwh + 1e-6).all()
        discharged = power < -1e-12
        assert (after[discharged] >= view.reserve_kwh[discharged] - 1e-6).all()
        fleet.energy_kwh[idx] = after


@settings(max_examples=200, deadline=None)
@given(st.lists(evs(), min_size=1, max_size=20), st.floats(-300.0, 300.0))
def test_group_power_meets_the_target_whenever_the_windows_allow_it(
    fleet_evs: list[EvState], target_kw: float
) -> None:
    fleet = Fleet.of(fleet_evs)
    result = allocate(fleet, 0.0, STEP_S, target_kw)
    reachable = min(max(target_kw, result.min_kw), result.max_kw)
    assert abs(result.committed_kw - reachable) < 1e-6 * max(1.0, abs(reachable))
    assert result.partial == (abs(reachable - target_kw) > 1e-6 * max(1.0, abs(target_kw)))
    assert (result.power_kw >= result.lo_kw - 1e-9).all()
    assert (result.power_kw <= result.hi_kw + 1e-9).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 0), st.floats(0, 10)), min_size=1, max_size=30),
    st.floats(-200, 200),
)
def test_no_ev_discharges_while_another_charges_by_choice(
    windows_kw: list[tuple[float, float]], group: float
) -> None:
    lo = np.array([w[0] for w in windows_kw])
    hi = np.array([w[1] for w in windows_kw])
    power = spread(lo, hi, group)
    assert not ((power < -1e-9).any() and (power > 1e-9).any())


def test_an_ev_short_of_time_is_charged_even_when_the_group_is_asked_to_export() -> None:
    ev = EvState("EV-1", 20.0, 60.0, 48.0, 18.0, 7.0, 7.0, 0.0, 6.0, 4 * 3600.0)
    lo, hi = windows(Fleet.of([ev]), 0.0, STEP_S)
    # 28 kWh in 4 h at 7 kW * 0.92 = 25.76 kWh: short, so full power now.
    assert lo[0] == hi[0] == 7.0
    assert allocate(Fleet.of([ev]), 0.0, STEP_S, -100.0).power_kw[0] == 7.0


def test_a_bidirectional_ev_at_its_reserve_is_not_discharged() -> None:
    ev = EvState("EV-1", 18.0, 60.0, 18.0, 18.0, 7.0, 7.0, 0.0, 6.0, 12 * 3600.0)
    result = allocate(Fleet.of([ev]), 0.0, STEP_S, -100.0)
    assert result.power_kw[0] == 0.0
    assert result.partial and result.committed_kw == 0.0


def test_a_late_start_in_an_interval_is_made_up_by_its_later_steps() -> None:
    # 900 s interval at 100 kW; the first 300 s delivered only 2 kWh: the rest must bring 23 kWh.
    kw = step_target_kw(100.0, 900.0, 300.0, 2.0)
    assert abs(kw * 600.0 / 3600.0 - 23.0) < 1e-9


def test_free_steps_after_the_order_charge_evenly_instead_of_at_the_last_moment() -> None:
    ev = EvState("EV-1", 30.0, 60.0, 48.0, 18.0, 7.0, 7.0, 0.0, 0.0, 10 * 3600.0)
    lazy = allocate(Fleet.of([ev]), 0.0, STEP_S, None, targets_ahead=True).power_kw[0]
    even = allocate(Fleet.of([ev]), 0.0, STEP_S, None, targets_ahead=False).power_kw[0]
    assert lazy == 0.0
    assert abs(even - 18.0 / 0.92 / 10.0) < 1e-9


def test_prorata_shares_an_import_target_by_charge_limit() -> None:
    evs_ = [
        EvState("A", 20.0, 60.0, 48.0, 18.0, 7.0, 7.0, 0.0, 0.0, 36000.0),
        EvState("B", 20.0, 60.0, 48.0, 18.0, 3.5, 3.5, 0.0, 0.0, 36000.0),
    ]
    power = prorata(Fleet.of(evs_), 0.0, STEP_S, 5.25)
    assert np.allclose(power, [3.5, 1.75])
