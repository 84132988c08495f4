"""The V2G allocator: splits one group power for the next step over the connected EVs.

Pure: no clock, no I/O. Time comes in as ``now_s`` (epoch seconds) and ``step_s`` (how long the
allocation will hold before the next re-run). Sign convention: positive kW is import (charging),
negative is export (discharge); energies are battery-side kWh.

Rolling horizon. The dispatcher re-runs ``allocate`` at every step and on every event (plug-in,
plug-out, profile rejected, station offline). Each run first computes, per EV, the power window the
hard constraints leave for this step:

- ``hi``: the charge limit (cold-derated), and no charging above the battery's capacity;
- ``lo``: the larger of the discharge limit (0 for charge-only EVs, and never below the reserve)
  and the *must-charge* power: what the EV needs now so that, charging at its full limit in every
  later step until departure, it still reaches its required energy.

Those windows are never left, so departure needs and reserves hold whatever the target asks; the
target is tracked inside the sum of the windows, and what cannot be reached is reported
(``partial``, ``committed_kw``). Without a target (a free interval) before later targets every EV
idles unless its must-charge power says otherwise: charging later keeps room for the charge
targets of the valley, and no EV is discharged without a reason. After the order's last target,
EVs charge evenly until departure (no rebound peak).

Inside the windows the group power is spread pro rata of each EV's room in the needed direction,
around an idle point (each EV at 0 kW, or at its window's edge when 0 is outside it), so that no EV
discharges while another charges to cancel it out (that would cost battery throughput for nothing).
Charging room is weighted by urgency (energy still needed per hour left) so that EVs leaving soon
are served first and fewer EVs are forced to charge later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

EPS_KW = 1e-9
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class EvState:
    """What the dispatcher knows about one connected EV (battery-side energies).

    ``charge_kw_now`` may be cold-derated until ``derated_until_s``; after that the EV can take
    ``charge_kw`` (the station's limit). ``discharge_kw`` is 0 for an EV or station that cannot
    discharge.
    """

    ev_id: str
    energy_kwh: float  # now
    capacity_kwh: float
    required_kwh: float  # at departure
    reserve_kwh: float  # never discharged below this
    charge_kw: float
    charge_kw_now: float
    derated_until_s: float
    discharge_kw: float
    departure_s: float
    eta_charge: float = 0.92
    eta_discharge: float = 0.92


@dataclass
class Fleet:
    """The same facts as arrays (one entry per EV), which is how the allocator works on 10,000 EVs."""

    energy_kwh: Floats
    capacity_kwh: Floats
    required_kwh: Floats
    reserve_kwh: Floats
    charge_kw: Floats
    charge_kw_now: Floats
    derated_until_s: Floats
    discharge_kw: Floats
    departure_s: Floats
    eta_charge: Floats
    eta_discharge: Floats

    @classmethod
    def of(cls, evs: Sequence[EvState]) -> Fleet:
        """Arrays from a list of EVs (same order)."""

        def col(name: str) -> Floats:
            return np.array([getattr(ev, name) for ev in evs], dtype=np.float64)

        return cls(**{name: col(name) for name in cls.__dataclass_fields__})

    def __len__(self) -> int:
        return len(self.energy_kwh)


@dataclass
class Allocation:
    """One run's answer: per-EV power for the step and what the group can and will do."""

    power_kw: Floats  # per EV, + import / - export
    lo_kw: Floats  # per EV window the hard constraints leave
    hi_kw: Floats
    requested_kw: float | None  # the group power asked for (None: free)
    committed_kw: float  # the group power allocated (sum of power_kw)

    @property
    def partial(self) -> bool:
        """True when the windows could not reach the requested group power."""
        if self.requested_kw is None:
            return False
        return abs(self.committed_kw - self.requested_kw) > 1e-6 * max(1.0, abs(self.requested_kw))

    @property
    def min_kw(self) -> float:
        """The least group power possible this step (most export)."""
        return float(self.lo_kw.sum())

    @property
    def max_kw(self) -> float:
        """The most group power possible this step."""
        return float(self.hi_kw.sum())


def future_charge_kwh(fleet: Fleet, from_s: float) -> Floats:
    """Battery energy each EV can still take from ``from_s`` to its departure at its full limits."""
    left_s = np.maximum(fleet.departure_s - from_s, 0.0)
    derated_s = np.minimum(np.maximum(fleet.derated_until_s - from_s, 0.0), left_s)
    kwh = (fleet.charge_kw_now * derated_s + fleet.charge_kw * (left_s - derated_s)) / 3600.0
    return kwh * fleet.eta_charge


def windows(
    fleet: Fleet, now_s: float, step_s: float, honour_departure: bool = True
) -> tuple[Floats, Floats]:
    """The per-EV power window ``(lo_kw, hi_kw)`` for the step ``[now_s, now_s + step_s)``.

    ``honour_departure=False`` drops the must-charge power (an emergency order: the grid's safety
    comes before a driver's departure need); the physical limits always hold.
    """
    h = step_s / 3600.0
    charge_now = np.where(now_s < fleet.derated_until_s, fleet.charge_kw_now, fleet.charge_kw)
    room_kwh = np.maximum(fleet.capacity_kwh - fleet.energy_kwh, 0.0)
    hi = np.minimum(charge_now, room_kwh / (fleet.eta_charge * h))
    above_reserve = np.maximum(fleet.energy_kwh - fleet.reserve_kwh, 0.0)
    lo_discharge = -np.minimum(fleet.discharge_kw, above_reserve * fleet.eta_discharge / h)
    if not honour_departure:
        return np.minimum(lo_discharge, hi), hi
    # The energy the EV must hold at the end of this step so that full charging afterwards still
    # meets its departure need.
    floor_kwh = fleet.required_kwh - future_charge_kwh(fleet, now_s + step_s)
    gap_kwh = floor_kwh - fleet.energy_kwh
    lo_need = np.where(
        gap_kwh > 0, gap_kwh / (fleet.eta_charge * h), gap_kwh * fleet.eta_discharge / h
    )
    lo = np.minimum(np.maximum(lo_discharge, lo_need), hi)
    return lo, hi


def spread(lo: Floats, hi: Floats, group_kw: float, urgency: Floats | None = None) -> Floats:
    """Powers within ``[lo, hi]`` summing to ``group_kw`` clamped to ``[sum(lo), sum(hi)]``.

    Around the idle point (0 kW clamped into each window), more charging is shared pro rata of each
    EV's charging room (times ``urgency`` when given, highest first by water-filling), more export pro
    rata of each EV's discharge room.
    """
    idle = np.clip(0.0, lo, hi)
    base = float(idle.sum())
    if group_kw >= base:
        room = hi - idle
        total = float(room.sum())
        if total <= EPS_KW:
            return idle
        extra = min(group_kw - base, total)
        if urgency is None:
            return idle + room * (extra / total)
        return idle + _water_fill(room, urgency, extra)
    room = idle - lo
    total = float(room.sum())
    if total <= EPS_KW:
        return idle
    cut = min(base - group_kw, total)
    return idle - room * (cut / total)


def _water_fill(room: Floats, weight: Floats, amount: float) -> Floats:
    """Give ``amount`` in total, each EV ``min(room, level * weight * room)`` for the level that
    sums right: EVs with a higher weight fill up first, all in proportion to their room."""
    w = np.maximum(weight, 1e-6) * room
    lo_level, hi_level = 0.0, 1.0
    while float(np.minimum(room, hi_level * w).sum()) < amount and hi_level < 1e12:
        hi_level *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo_level + hi_level)
        if float(np.minimum(room, mid * w).sum()) < amount:
            lo_level = mid
        else:
            hi_level = mid
    given = np.minimum(room, hi_level * w)
    total = float(given.sum())
    return given * (amount / total) if total > EPS_KW else given


def urgency(fleet: Fleet, now_s: float) -> Floats:
    """Energy still needed per hour left before departure, relative to what the EV could take."""
    need = np.maximum(fleet.required_kwh - fleet.energy_kwh, 0.0)
    possible = np.maximum(future_charge_kwh(fleet, now_s), 1e-6)
    return 0.05 + need / possible


def allocate(
    fleet: Fleet,
    now_s: float,
    step_s: float,
    group_kw: float | None,
    targets_ahead: bool = True,
    honour_departure: bool = True,
) -> Allocation:
    """Split ``group_kw`` (None: no target) over ``fleet`` for the step starting at ``now_s``.

    ``targets_ahead`` tells a free step whether the order still has targeted intervals: if so the
    EVs wait (room for them); if not, each charges evenly until its departure, which avoids the
    rebound peak that charging as late as possible would cause.
    """
    lo, hi = windows(fleet, now_s, step_s, honour_departure)
    if len(fleet) == 0:
        power = lo
    elif group_kw is None and targets_ahead:
        power = np.clip(0.0, lo, hi)  # idle, or what departure needs force now
    elif group_kw is None:
        need = np.maximum(fleet.required_kwh - fleet.energy_kwh, 0.0) / fleet.eta_charge
        left_h = np.maximum(fleet.departure_s - now_s, step_s) / 3600.0
        power = np.clip(need / left_h, np.maximum(lo, 0.0), hi)
    else:
        power = spread(lo, hi, group_kw, urgency(fleet, now_s))
    return Allocation(power, lo, hi, group_kw, float(power.sum()))


def apply_step(fleet: Fleet, power_kw: Floats, step_s: float) -> Floats:
    """Battery energies after holding ``power_kw`` for ``step_s`` (the plant side of a simulation)."""
    h = step_s / 3600.0
    gain = np.where(power_kw >= 0, power_kw * fleet.eta_charge, power_kw / fleet.eta_discharge) * h
    return fleet.energy_kwh + gain


def step_target_kw(target_kw: float, interval_s: float, elapsed_s: float, delivered_kwh: float) -> float:
    """The group power for the rest of a settlement interval so that its energy meets the target:
    what an interval's early steps missed (a late plug-in, a partial step) is made up later."""
    left_s = interval_s - elapsed_s
    if left_s <= 0:
        return target_kw
    return (target_kw * interval_s / 3600.0 - delivered_kwh) / (left_s / 3600.0)
