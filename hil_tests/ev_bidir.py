"""The plant's bidirectional EV: power under the charger's limit, and energy through a lossy path.

An EV that supports vehicle-to-grid (`BidirEv`) takes power up to the limit the firmware sets
(sim protocol `{"op":"set","limit_w":N}`, docs/interfaces.md §1.3) and, when that limit is
negative, gives power back up to its own discharge rating. Both directions lose energy between the
meter and the cells, more in the cold: the inverter and battery heating eat into every kWh.
`power_w` and `transfer` are what `hil_tests.plant.StationPlant` calls; an EV of the plain
`plant.Ev` kind only charges (a negative limit means no power at all for it).

Sign convention: positive is import (the EV charging), negative is export.
"""

from __future__ import annotations

from hil_tests.plant import Ev, cold_derate

# one-way efficiency between the meter and the cells (charger or inverter, cabling, cell losses and
# the battery heating that cold operation needs)
_EFF_WARM = 0.94  # at 15 °C and warmer
_EFF_COLD = 0.80  # at -30 °C and colder
_WARM_C = 15.0
_COLD_C = -30.0


def efficiency(temp_c: float) -> float:
    """One-way efficiency of the power path at battery temperature `temp_c` (linear in between)."""
    if temp_c >= _WARM_C:
        return _EFF_WARM
    if temp_c <= _COLD_C:
        return _EFF_COLD
    return _EFF_COLD + (_EFF_WARM - _EFF_COLD) * (temp_c - _COLD_C) / (_WARM_C - _COLD_C)


class BidirEv(Ev):
    """An EV that can also discharge to the grid (CHAdeMO or ISO 15118-20 style V2G)."""

    def __init__(self, *args: object, max_discharge_w: float = 7_400.0, min_soc_pct: float = 10.0,
                 v2g: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.max_discharge_w = max_discharge_w
        self.min_soc_pct = min_soc_pct  # the EV's own floor: its BMS stops discharge there
        self.v2g = v2g  # the EV accepts discharge (reported to the firmware)

    def discharge_w(self) -> float:
        """Power the EV can give now: rated, derated by cold, nothing at its SoC floor."""
        if not self.v2g or self.soc_pct <= self.min_soc_pct:
            return 0.0
        return self.max_discharge_w * cold_derate(self.battery_temp_c)


def can_discharge(ev: Ev | None) -> bool:
    """True when `ev` supports discharge (what the plant tells the firmware)."""
    return isinstance(ev, BidirEv) and ev.v2g


def power_w(ev: Ev, limit_w: float | None, evse_max_w: float) -> float:
    """Power at the meter for `ev` under the firmware's limit (None: no limit was ever sent)."""
    if limit_w is None or limit_w >= 0.0:
        p = min(evse_max_w, ev.acceptance_w())
        return max(0.0, p if limit_w is None else min(p, limit_w))
    if not can_discharge(ev):
        return 0.0
    return -min(-limit_w, evse_max_w, ev.discharge_w())  # type: ignore[attr-defined]


def transfer(ev: Ev, energy_wh: float) -> None:
    """Energy `energy_wh` passed the meter (+ into the EV): the battery changes by it, less losses."""
    if not isinstance(ev, BidirEv):
        if energy_wh > 0.0:
            ev.absorb(energy_wh)
        return
    eff = efficiency(ev.battery_temp_c)
    stored = energy_wh * eff if energy_wh >= 0.0 else energy_wh / eff
    ev.soc_pct = min(100.0, max(0.0, ev.soc_pct + 100.0 * stored / ev.capacity_wh))
