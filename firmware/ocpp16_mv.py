# Meter values of ocpp16, loaded for each use (lazy.py): the core keeps only the checks of when
# a sample is due (Ocpp16.step), the code that takes it is here (clock-aligned samples: in
# ocpp16_clock). Kept small: it is loaded every MeterValueSampleInterval while a transaction runs.
#   periodic(core, now_ms)  MeterValueSampleInterval: a Sample.Periodic MeterValues of the running
#                           transaction
#   sampled(...)            a sampledValue array: ocpp16_sv's (imported from there)
#   put(core, ...)          a reading to the journal
# Both kinds of readings are droppable M journal records "<ltx> <MeterValues payload without
# transactionId and without its outer braces>", sent oldest-first with the transaction's records;
# ltx 0: a reading outside any transaction, sent as it is (ocpp16_out).
from time import ticks_add, ticks_diff

import ocpp16_msg as msg
from ocpp16_sv import sampled


def put(core, ltx, cid, ts, sv):
    # a droppable M record (the core's append logs a full journal)
    mv = msg.meter_values(cid, None, ts, sv)
    core.append('M', '%d %s' % (ltx, mv[1:-1]), True)


def periodic(core, now_ms):
    # a periodic MeterValues of the running transaction (due: Ocpp16.step)
    iv = core.cfg_get('MeterValueSampleInterval') or 0
    late = ticks_diff(now_ms, core.sample_at)
    if iv <= 0 or late < 0:
        return
    t = core.now_s()
    if t == core.mv_s:
        # a late sample and the next one on the grid can fall in one wall-clock second: the
        # backend would hold two readings for one timestamp. Wait for the next second (due again
        # at the next step)
        return
    core.mv_s = t
    if late > iv * 1000:
        core.sample_at = now_ms  # samples missed (a long flash write) are not made up
    core.sample_at = ticks_add(core.sample_at, iv * 1000)
    e, p = core.meter()
    sv = sampled('Sample.Periodic', e, p, core.cfg_get('MeterValuesSampledData'), e - core.last_wh,
                 getattr(core, 'power', None), getattr(core, 'mtr', None))
    core.last_wh = e
    put(core, core.tx_ltx, core.conn.connector_id, msg.iso(t), sv)
