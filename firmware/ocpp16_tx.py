# Transactions of the connector for ocpp16: functions on the Ocpp16 core, whose fields they share
# (see Ocpp16.__init__). They run on events (a plug, a card, an answer, a CALL), so the core loads
# this module for each (Ocpp16.tx) and drops it after; authorization is in ocpp16_auth, the
# periodic and clock-aligned readings of a running transaction are taken by ocpp16_mv and
# ocpp16_clock; the Stop's sampledValue arrays come from ocpp16_sv, imported by stop_body only (an
# answer to a Start or a Stop does not load it).
# Journal records (ocpp16.py explains their life):
#   S  "<ltx> <StartTransaction payload>"
#   B  "<ltx> <transactionId> <meterStart> <start timestamp>"
#   T  "<ltx> <StopTransaction payload without transactionId>"
#   M  "<ltx> <MeterValues payload without transactionId and without its outer braces>"
#      (droppable)
from time import ticks_add

import ocpp16_msg as msg


# ---- transactions ---------------------------------------------------------------------------
def start(core, now_ms):
    c = core.conn
    tag = core.auth_tag or ''
    ltx = core.next_ltx
    energy = core.meter()[0]
    ts = core.ts()
    data = ('%d {"connectorId":%d,"idTag":%s,"meterStart":%d,"timestamp":"%s"}'
            % (ltx, c.connector_id, msg.q(tag), energy, ts))
    j = core.journal
    # refused only when its Start, bind and Stop could not all be stored
    big = 2 ** 31
    need = (j.record_size(data) + j.record_size('%d %d %d %s' % (ltx, big, big, ts))
            + j.record_size(stop_body(ltx, tag, big, 'EVDisconnected', ts, big, ts,
                                          core.cfg_get('StopTxnSampledData'))))
    if j.room() < need or core.append('S', data) < 0:
        core.auth_tag = None
        c.deauthorize()
        core.log('TX_REFUSED journal full', 'WARN')
        return False
    # the tag is used up only now: an exception above (no heap left) leaves it for the next try
    core.auth_tag = None
    core.next_ltx = ltx + 1
    core.tx_ltx = ltx
    core.tx_tag = tag
    core.tx_meter_start = core.last_wh = energy
    core.tx_start_ts = ts
    core.tx_al = None  # its clock-aligned samples for the Stop (ocpp16_clock)
    c.begin_tx()
    core.sample_at = ticks_add(now_ms, (core.cfg_get('MeterValueSampleInterval') or 0) * 1000)
    core.log('TX_START ltx=%d tag=%s meter=%d' % (ltx, tag, energy))
    return True


def stop(core, reason, tag, now_ms):
    ltx = core.tx_ltx
    if not ltx:
        return
    energy = max(core.meter()[0], core.tx_meter_start)
    sd = core.cfg_get('StopTxnSampledData')
    ts = core.ts()
    # StopTxnAlignedData: the transaction's clock-aligned samples, when the journal has room for
    # them (the Stop itself always has: start() made sure)
    al = getattr(core, 'tx_al', None)
    clock = ''
    if al is not None:  # (ocpp16_clock: dropped with this module)
        from ocpp16_clock import stop_aligned
        clock = stop_aligned(al, core.cfg_get('StopTxnAlignedData'), core.tx_meter_start)
    core.tx_al = None
    data = stop_body(ltx, tag, energy, reason, ts, core.tx_meter_start, core.tx_start_ts, sd, clock)
    if clock and core.journal.record_size(data) > core.journal.room():
        data = stop_body(ltx, tag, energy, reason, ts, core.tx_meter_start, core.tx_start_ts, sd)
    if core.append('T', data) < 0:
        core.journal.compact()
        core.append('T', data)
    core.tx_ltx = 0
    core.tx_tag = core.tx_start_ts = None
    c = core.conn
    was = c.available
    c.end_tx()
    if c.available != was:
        core.save_availability()
    core.log('TX_STOP ltx=%d reason=%s meter=%d' % (ltx, reason, energy))


def start_result(core, p, seq, ltx, now_ms):
    txid = p.get('transactionId')
    if type(txid) is not int:
        return False
    running = ltx == core.tx_ltx
    # B before removing S: a cut in between leaves both, and recovery drops the S
    bseq = core.append('B', '%d %d %d %s' % (ltx, txid, core.tx_meter_start if running else 0,
                                             core.tx_start_ts if running else msg.iso(0)))
    core.bind[ltx] = [txid, bseq]
    core.journal.remove(seq)
    core.log('TX_BOUND ltx=%d txid=%d' % (ltx, txid))
    info = p.get('idTagInfo')
    if running and type(info) is dict:
        core.remember(core.tx_tag, info)
        if info.get('status') != 'Accepted':
            core.log('TX_DEAUTHORIZED ltx=%d %s' % (ltx, info.get('status')))
            if core.cfg_get('StopTransactionOnInvalidId') is not False:
                stop(core, 'DeAuthorized', None, now_ms)
            else:
                core.conn.deauthorize()
    return True


def stop_result(core, seq, ltx):
    # B before T: a cut in between leaves a T without S/B, which recovery drops as answered
    b = core.bind.pop(ltx, None)
    if b is not None and b[1] >= 0:
        core.journal.remove(b[1])
    core.journal.remove(seq)
    core.log('TX_ACKED ltx=%d' % ltx)


def stop_body(ltx, tag, meter_stop, reason, ts, meter_start, start_ts, measurands, clock=''):
    # a T journal record: "<ltx> <StopTransaction payload without transactionId>"; `clock`: the
    # Sample.Clock meterValues between begin and end (ocpp16_clock.stop_aligned)
    from ocpp16_sv import sampled  # dropped with this module (lazy.call)
    td = '[%s%s,%s]' % (msg.meter_value(start_ts, sampled('Transaction.Begin', meter_start, 0, measurands)),
                        clock,
                        msg.meter_value(ts, sampled('Transaction.End', meter_stop, 0, measurands,
                                                    meter_stop - meter_start)))
    return ('%d {%s"meterStop":%d,"timestamp":"%s","reason":"%s","transactionData":%s}'
            % (ltx, '' if tag is None else '"idTag":%s,' % msg.q(tag), meter_stop, ts, reason, td))
