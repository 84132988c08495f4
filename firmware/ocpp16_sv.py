# The sampledValue array of an OCPP 1.6 meter value, for ocpp16_mv (periodic samples),
# ocpp16_clock (clock-aligned ones), ocpp16_tx (the Stop's transactionData) and ocpp16_ops
# (TriggerMessage), imported by them only (dropped with them, lazy.py): a Stop does not load the
# sampling code. The per-phase values of a Modbus meter are formatted by ocpp16_ph, imported only
# when one is configured and asked for.
from micropython import const

_E_REG = const('Energy.Active.Import.Register')
_E_INT = const('Energy.Active.Import.Interval')
_P_IMP = const('Power.Active.Import')


def sampled(ctx, energy_wh, power_w, measurands, delta_wh=0, pw=None, mtr=None):
    # sampledValue array, measurands in the configured order; transaction begin/end values carry
    # energy only (no power reading is kept for them). Discharge (power_w < 0) is reported as
    # export; `pw` (power.Power) holds the export register and the EV's SoC; `mtr` (meter.Meter,
    # a Modbus meter) the per-phase Voltage (phase L1-N...) and Current.Import (L1...), one value
    # per phase of the meter (a single-phase meter: L1-N / L1 only)
    out = '['
    now = not ctx.startswith('Transaction')
    for m in (measurands or _E_REG).split(','):
        m = m.strip()
        if m == _E_REG:
            v, u = energy_wh, 'Wh'
        elif m == _E_INT:
            v, u = delta_wh, 'Wh'
        elif m == _P_IMP and now:
            v, u = power_w if power_w > 0 else 0, 'W'
        elif m == 'Power.Active.Export' and now:
            v, u = -power_w if power_w < 0 else 0, 'W'
        elif m == 'Energy.Active.Export.Register' and mtr is not None and mtr.energy_export_wh is not None:
            v, u = mtr.energy_export_wh, 'Wh'
        elif m == 'Energy.Active.Export.Register' and pw is not None:
            v, u = pw.export_wh, 'Wh'
        elif m == 'SoC' and now and pw is not None and pw.soc_pct >= 0:
            v, u = pw.soc_pct, 'Percent'
        elif (m == 'Voltage' or m == 'Current.Import') and now and mtr is not None \
                and mtr.energy_import_wh is not None:
            from ocpp16_ph import phases
            out = phases(out, m, ctx, mtr)
            continue
        else:
            continue
        if len(out) > 1:
            out += ','
        out += '{"value":"%d","context":"%s","measurand":"%s","unit":"%s"}' % (v, ctx, m, u)
    if len(out) == 1:
        return sampled(ctx, energy_wh, power_w, _E_REG)
    return out + ']'
