"""Yardsticks for the allocator: the pro-rata heuristic and the offline linear programme.

- ``prorata``: what a simple dispatcher does. A targeted step shares the group power over the
  connected EVs in proportion to their power limits (charge limits to import, discharge limits to
  export), respecting only the battery's physics (full, reserve); a free step charges every EV at
  full power until its required energy (the no-dispatch behaviour). Departure needs are not
  protected.
- ``lp_optimum``: perfect knowledge of every arrival, one linear programme over the whole day at
  settlement-interval resolution (scipy's HiGHS). Per EV and interval, grid-side charge ``c`` and
  discharge ``d`` energies within the connected time's limits, battery energy within capacity and
  reserve, required energy at departure; minimises the sum of absolute interval errors (plus a
  tiny cost on discharge, so that no energy is cycled for nothing). It works on interval averages
  of the limits, so it is a relaxation of any finer-stepped schedule: its error is a lower bound,
  except for one restriction — an EV that arrives below its reserve is not discharged at all (the
  linear form of "discharge only above the reserve" for such an EV needs an integer variable).

scipy is imported when ``lp_optimum`` runs: it is a benchmark-only dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ocpp_backend.dispatch.allocator import Fleet, Floats


def prorata(fleet: Fleet, now_s: float, step_s: float, group_kw: float | None) -> Floats:
    """Per-EV power (kW) for one step of the pro-rata heuristic."""
    h = step_s / 3600.0
    charge_now = np.where(now_s < fleet.derated_until_s, fleet.charge_kw_now, fleet.charge_kw)
    hi = np.minimum(charge_now, np.maximum(fleet.capacity_kwh - fleet.energy_kwh, 0) / (fleet.eta_charge * h))
    above = np.maximum(fleet.energy_kwh - fleet.reserve_kwh, 0.0)
    lo = -np.minimum(fleet.discharge_kw, above * fleet.eta_discharge / h)
    if group_kw is None:
        need = np.maximum(fleet.required_kwh - fleet.energy_kwh, 0.0) / (fleet.eta_charge * h)
        return np.minimum(hi, need)
    if group_kw >= 0:
        total = float(hi.sum())
        return np.minimum(hi, hi * (group_kw / total)) if total > 0 else np.zeros_like(hi)
    total = float(-lo.sum())
    return np.maximum(lo, lo * (-group_kw / total)) if total > 0 else np.zeros_like(lo)


@dataclass
class DayProblem:
    """A dispatch day at interval resolution: per EV the connected seconds and the charge energy
    limit of each interval, per interval the target (NaN where free)."""

    interval_s: float
    target_kw: Floats  # (K,), NaN = free
    connected_s: Floats  # (N, K) seconds connected in each interval
    charge_kwh: Floats  # (N, K) grid-side charge energy limit (cold derating included)
    discharge_kw: Floats  # (N,)
    e0_kwh: Floats
    capacity_kwh: Floats
    required_kwh: Floats
    reserve_kwh: Floats
    eta_charge: Floats
    eta_discharge: Floats


@dataclass
class LpResult:
    """The optimum: group power per interval, per-EV energy at departure, discharged energy."""

    group_kw: Floats  # (K,)
    final_kwh: Floats  # (N,)
    min_energy_after_discharge_kwh: Floats  # (N,) lowest energy reached in an interval with discharge
    discharged_kwh: float  # battery side
    status: str


def lp_optimum(p: DayProblem, discharge_cost: float = 1e-4) -> LpResult:
    """Solve the offline optimum with HiGHS."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    n, k = p.connected_s.shape
    h_int = p.interval_s / 3600.0
    pairs = np.argwhere(p.connected_s > 0)  # (i, k) sorted by i then k
    m = len(pairs)
    can_dis = (p.discharge_kw > 0) & (p.e0_kwh >= p.reserve_kwh)
    dis_pairs = np.flatnonzero(can_dis[pairs[:, 0]])
    md = len(dis_pairs)
    targeted = np.flatnonzero(~np.isnan(p.target_kw))
    mt = len(targeted)
    # Variable layout: c[m] | d[md] | E[m] | u_plus[mt] | u_minus[mt]
    c0, d0, e0v, up0, um0 = 0, m, m + md, 2 * m + md, 2 * m + md + mt
    nvar = 2 * m + md + 2 * mt
    ii = pairs[:, 0]
    kk = pairs[:, 1]
    eta_c = p.eta_charge[ii]
    eta_d = p.eta_discharge[ii]
    first = np.ones(m, dtype=bool)
    first[1:] = ii[1:] != ii[:-1]
    last = np.ones(m, dtype=bool)
    last[:-1] = ii[1:] != ii[:-1]

    rows, cols, vals = [], [], []
    # Energy balance per pair: E - E_prev - eta_c c + d / eta_d = (E0 if first)
    r = np.arange(m)
    rows += [r, r]
    cols += [e0v + r, c0 + r]
    vals += [np.ones(m), -eta_c]
    prev = np.flatnonzero(~first)
    rows.append(prev)
    cols.append(e0v + prev - 1)
    vals.append(-np.ones(len(prev)))
    rows.append(dis_pairs)
    cols.append(d0 + np.arange(md))
    vals.append(1.0 / eta_d[dis_pairs])
    b_eq_energy = np.where(first, p.e0_kwh[ii], 0.0)
    # Interval targets: sum c - sum d - u+ + u- = T h
    row_of_interval = {int(kt): m + j for j, kt in enumerate(targeted)}
    tr = np.array([row_of_interval.get(int(x), -1) for x in kk])
    sel = np.flatnonzero(tr >= 0)
    rows.append(tr[sel])
    cols.append(c0 + sel)
    vals.append(np.ones(len(sel)))
    dsel = dis_pairs[tr[dis_pairs] >= 0]
    dpos = np.flatnonzero(tr[dis_pairs] >= 0)
    rows.append(tr[dsel])
    cols.append(d0 + dpos)
    vals.append(-np.ones(len(dsel)))
    rows += [m + np.arange(mt), m + np.arange(mt)]
    cols += [up0 + np.arange(mt), um0 + np.arange(mt)]
    vals += [-np.ones(mt), np.ones(mt)]
    a_eq = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m + mt, nvar)
    ).tocsr()
    b_eq = np.concatenate([b_eq_energy, p.target_kw[targeted] * h_int])

    lower = np.zeros(nvar)
    upper = np.full(nvar, np.inf)
    upper[c0 : c0 + m] = p.charge_kwh[ii, kk]
    upper[d0 : d0 + md] = p.discharge_kw[ii[dis_pairs]] * p.connected_s[ii[dis_pairs], kk[dis_pairs]] / 3600.0
    floor = np.where(can_dis[ii], p.reserve_kwh[ii], np.minimum(p.e0_kwh[ii], p.reserve_kwh[ii]))
    lower[e0v : e0v + m] = np.where(last, np.maximum(floor, p.required_kwh[ii]), floor)
    upper[e0v : e0v + m] = np.maximum(p.capacity_kwh[ii], lower[e0v : e0v + m])
    cost = np.zeros(nvar)
    cost[up0:] = 1.0
    cost[d0 : d0 + md] = discharge_cost
    res = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=np.column_stack([lower, upper]), method="highs")
    if res.x is None:
        raise RuntimeError(f"LP failed: {res.message}")
    x = res.x
    net = x[c0 : c0 + m].copy()
    net[dis_pairs] -= x[d0 : d0 + md]
    group = np.bincount(kk, weights=net, minlength=k) / h_int
    energy = x[e0v : e0v + m]
    final = np.full(n, np.nan)
    final[ii[last]] = energy[last]
    low = np.full(n, np.inf)
    discharging = dis_pairs[x[d0 : d0 + md] > 1e-7]
    np.minimum.at(low, ii[discharging], energy[discharging])
    discharged = float((x[d0 : d0 + md] / eta_d[dis_pairs]).sum())
    return LpResult(group, final, low, discharged, str(res.message))
