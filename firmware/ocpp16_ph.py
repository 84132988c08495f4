# The per-phase meter values of a Modbus meter for ocpp16_mv.sampled, imported by it only when a
# meter is configured and MeterValuesSampledData / MeterValuesAlignedData asks for Voltage or
# Current.Import: the common sample (energy, power) does not load this.
#   phases(out, m, ctx, mtr)  `out` (a sampledValue array being built, '[...') with one value of
#                             measurand `m` per phase of the meter: Voltage phase L1-N... (V, one
#                             decimal), Current.Import phase L1... (A, two decimals); a
#                             single-phase meter gives L1-N / L1 only


def phases(out, m, ctx, mtr):
    if m == 'Voltage':
        vals = mtr.voltage_v
        f = '{"value":"%.1f","context":"%s","measurand":"Voltage","phase":"L%d-N","unit":"V"}'
    else:
        vals = mtr.current_a
        f = '{"value":"%.2f","context":"%s","measurand":"Current.Import","phase":"L%d","unit":"A"}'
    for i in range(len(vals)):
        if len(out) > 1:
            out += ','
        out += f % (vals[i], ctx, i + 1)
    return out
