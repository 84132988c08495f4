# The heat-up estimate in an FG_COLD hold's info (docs/interfaces.md §1.6), loaded only when a hold
# is evaluated (lazy.py): kept out of app_cold_evt, which the periodic reports load too, so that
# the reports' peak heap does not carry it.
from micropython import const

import zonemodel

_CHARGE_GUARDS = const(5)  # contactor | power (as thermal.py)


def eta_min(ctl):
    # minutes at full duty until every charge-guarding zone is released, from the learned zone
    # models (lead_min follows the loss as the zone warms); None while a zone has not shown its
    # heater yet, has no trustworthy reading, or cannot warm that far in this weather
    worst = 0
    for z in ctl.zones:
        if z.guard & _CHARGE_GUARDS and not z.ready:
            m = z.model
            if not m.nb or z.unsafe:
                return None
            n = m.lead_min(z.t_cc, z.min_cc + z.hyst_cc)
            if n >= zonemodel.LEAD_MAX_MIN:
                return None
            if n > worst:
                worst = n
    return worst
