# Authorization and transactions of the connector for ocpp16: functions on the Ocpp16 core, whose
# fields they share (see Ocpp16.__init__). Journal records (ocpp16.py explains their life):
#   S  "<ltx> <StartTransaction payload>"
#   B  "<ltx> <transactionId> <meterStart> <start timestamp>"
#   T  "<ltx> <StopTransaction payload without transactionId>"
#   M  "<ltx> <MeterValues payload without transactionId and without its outer braces>"
#      (droppable)
from time import ticks_add, ticks_diff

import ocpp16_msg as msg


# ---- authorization --------------------------------------------------------------------------
def present_tag(core, tag, now_ms):
    # an RFID card at the reader: ends the session it started, or asks to start one
    c = core.conn
    if c.tx_active and tag == core.tx_tag:
        stop(core, 'Local', tag, now_ms)
    elif c.tx_active or not c.available or c.fault is not None:
        core.log('TAG_IGNORED %s' % tag)
    else:
        authorize(core, tag, now_ms)


def authorize(core, tag, now_ms):
    core.auth_wait = tag
    if core.accepted():
        if core.cfg_get('LocalPreAuthorize') and _valid(core, _local_info(core, tag)):
            core.auth_wait = None
            accept(core, tag, now_ms)
        else:
            core.drop_queued('Authorize')
            core.enqueue('Authorize', '{"idTag":%s}' % msg.q(tag))
    else:
        auth_offline(core, now_ms)


def auth_offline(core, now_ms):
    # LocalAuthorizeOffline / AllowOfflineTxForUnknownId decide for the tag waiting, if any
    tag, core.auth_wait = core.auth_wait, None
    if tag is None:
        return
    info = _local_info(core, tag)
    if info is not None:
        ok = core.cfg_get('LocalAuthorizeOffline') and _valid(core, info)
    else:
        ok = core.cfg_get('AllowOfflineTxForUnknownId')
    if ok:
        accept(core, tag, now_ms)
    else:
        core.log('AUTH_REJECTED %s offline' % tag)


def accept(core, tag, now_ms):
    core.auth_tag = tag
    core.conn.authorize(now_ms)
    core.log('AUTHORIZED %s' % tag)


def authorize_result(core, p, now_ms):
    tag, core.auth_wait = core.auth_wait, None
    info = p.get('idTagInfo')
    if tag is None or type(info) is not dict:
        return
    remember(core, tag, info)
    if info.get('status') == 'Accepted' and not core.conn.tx_active:
        accept(core, tag, now_ms)
    else:
        core.log('AUTH_REJECTED %s %s' % (tag, info.get('status')))


def _local_info(core, tag):
    info = None
    if core.cfg_get('LocalAuthListEnabled'):
        info = core.local.lookup(tag)
    if info is None and core.cfg_get('AuthorizationCacheEnabled'):
        info = core.cache.lookup(tag)
    return info


def _valid(core, info):
    if not info or info.get('status') != 'Accepted':
        return False
    t = msg.parse_iso(info.get('expiryDate') or '')
    return t is None or t > core.now_s()


def remember(core, tag, info):
    # idTagInfo from the backend goes to the authorization cache
    if tag and type(info) is dict and core.cfg_get('AuthorizationCacheEnabled'):
        try:
            core.cache.put(tag, info)
        except Exception as e:
            core.log('CACHE %r' % e, 'WARN')


# ---- transactions ---------------------------------------------------------------------------
def step(core, now_ms):
    c = core.conn
    if core.tx_ltx:
        if c.cp == 'A' and core.cfg_get('StopTransactionOnEVSideDisconnect') is not False:
            stop(core, 'EVDisconnected', None, now_ms)
        else:
            _sample(core, now_ms)
    elif c.may_start() and not core.reset_req:
        start(core, now_ms)


def start(core, now_ms):
    c = core.conn
    tag = core.auth_tag or ''
    core.auth_tag = None
    ltx = core.next_ltx
    energy = core.meter()[0]
    ts = core.ts()
    data = ('%d {"connectorId":%d,"idTag":%s,"meterStart":%d,"timestamp":"%s"}'
            % (ltx, c.connector_id, msg.q(tag), energy, ts))
    j = core.journal
    # refused only when its Start, bind and Stop could not all be stored
    big = 2 ** 31
    need = (j.record_size(data) + j.record_size('%d %d %d %s' % (ltx, big, big, ts))
            + j.record_size(msg.stop_body(ltx, tag, big, 'EVDisconnected', ts, big, ts,
                                          core.cfg_get('StopTxnSampledData'))))
    if j.room() < need or core.append('S', data) < 0:
        c.deauthorize()
        core.log('TX_REFUSED journal full', 'WARN')
        return False
    core.next_ltx = ltx + 1
    core.tx_ltx = ltx
    core.tx_tag = tag
    core.tx_meter_start = core.last_wh = energy
    core.tx_start_ts = ts
    c.begin_tx()
    core.sample_at = now_ms
    _next_sample(core, now_ms)
    core.log('TX_START ltx=%d tag=%s meter=%d' % (ltx, tag, energy))
    return True


def stop(core, reason, tag, now_ms):
    ltx = core.tx_ltx
    if not ltx:
        return
    energy = max(core.meter()[0], core.tx_meter_start)
    data = msg.stop_body(ltx, tag, energy, reason, core.ts(), core.tx_meter_start, core.tx_start_ts,
                         core.cfg_get('StopTxnSampledData'))
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


def _next_sample(core, now_ms):
    iv = core.cfg_get('MeterValueSampleInterval') or 0
    core.sample_at = ticks_add(core.sample_at, iv * 1000) if iv > 0 else now_ms


def _sample(core, now_ms):
    iv = core.cfg_get('MeterValueSampleInterval') or 0
    late = ticks_diff(now_ms, core.sample_at)
    if iv <= 0 or late < 0:
        return
    if late > iv * 1000:
        core.sample_at = now_ms  # samples missed (a long flash write) are not made up
    _next_sample(core, now_ms)
    e, p = core.meter()
    sv = msg.sampled('Sample.Periodic', e, p, core.cfg_get('MeterValuesSampledData'), e - core.last_wh)
    core.last_wh = e
    mv = msg.meter_values(core.conn.connector_id, None, core.ts(), sv)
    core.append('M', '%d %s' % (core.tx_ltx, mv[1:-1]), True)


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
        remember(core, core.tx_tag, info)
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
