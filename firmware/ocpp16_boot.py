# Boot-time code of ocpp16, loaded only while it runs (lazy.py): recover() once at boot,
# payload() of each BootNotification and result() with its answer, connected() and disconnected()
# once a connection.
#
# Recovery of the transaction journal:
# Per local transaction id (ltx), the record kinds left in the journal tell what happened before
# the reboot (ocpp16.py explains the order in which records are written and removed):
#   S           Start not answered yet: send it
#   S + B       Start answered, cut before the S was removed: drop the S (never sent twice)
#   B or S (no T)  the transaction was running at the cut: append StopTransaction(PowerLoss)
#   T, no S/B   Stop answered, cut before the T was removed: drop the T
#   M, no S/B   readings of a transaction already closed: drop (ltx 0: clock-aligned readings
#               outside a transaction: kept)
import json
from micropython import const
from time import ticks_add

import lazy
import ocpp16_msg as msg
import ocpp16_out
from ocpp16_in import take_time

_B_PENDING = const(1)  # core.boot (ocpp16.py)
_B_REJECTED = const(2)
_B_ACCEPTED = const(3)
_BOOT_RETRY_S = const(30)  # when the backend gives no interval (also in ocpp16_out)
_FIRMWARE_VERSION = const('0.1.0')


def _ltx(data):
    return int(data[:data.find(' ')])


def recover(core, now_ms):
    # rebuilds core.bind and core.next_ltx; returns the live journal record count
    j = core.journal
    kinds = {}  # ltx -> bits: 1 S, 2 B, 4 T
    run = {}  # ltx -> S or B data, the start of a transaction possibly cut by power loss
    top = 0
    for seq, kind, data in j.records():
        if kind not in 'SBT':
            continue
        ltx = _ltx(data)
        top = max(top, ltx)
        kinds[ltx] = kinds.get(ltx, 0) | (1 if kind == 'S' else 2 if kind == 'B' else 4)
        if kind == 'B':
            core.bind[ltx] = [int(data.split(' ', 2)[1]), seq]
        if kind != 'T' and (kind == 'S' or ltx not in run):
            run[ltx] = data
    core.next_ltx = top + 1
    drop = []
    for seq, kind, data in j.records():
        if kind in 'STM':
            ltx = _ltx(data)
            k = kinds.get(ltx, 0)
            # (M of ltx 0: a clock-aligned reading outside any transaction, still to send)
            if (kind == 'S' and k & 2) or (kind != 'S' and ltx and not k & 3):
                drop.append(seq)
    for seq in drop:
        j.remove(seq)
    energy = core.meter()[0]
    for ltx in run:
        if kinds[ltx] & 4:
            continue
        data = run[ltx]
        i = data.find(' ')
        if data[i + 1] == '{':  # an S record: its payload
            p = json.loads(data[i + 1:])
            start, start_ts = p['meterStart'], p['timestamp']
        else:  # a B record: "<ltx> <txid> <meterStart> <timestamp>"
            f = data.split(' ')
            start, start_ts = int(f[2]), f[3]
        stop = max(energy, start)
        core.append('T', lazy.call('ocpp16_tx', 'stop_body', ltx, None, stop, 'PowerLoss', core.ts(),
                                   start, start_ts, core.cfg_get('StopTxnSampledData')))
        core.log('TX_STOP ltx=%d reason=PowerLoss meter=%d' % (ltx, stop))
    n = 0
    for _ in j.records():
        n += 1
    return n


def result(core, p, now_ms):
    # the CALLRESULT of a BootNotification
    st = p.get('status')
    iv = p.get('interval')
    iv = iv if type(iv) is int and iv > 0 else 0
    take_time(core, p)
    if st == 'Accepted':
        first = core.boot != _B_ACCEPTED
        core.boot = _B_ACCEPTED
        core.log('BOOT_ACCEPTED interval=%d' % iv)
        if iv and iv != core.cfg_get('HeartbeatInterval'):
            try:
                core.cfg.set('HeartbeatInterval', iv)
            except Exception as e:
                core.log('CONFIG %r' % e, 'WARN')
        if first:
            _status_now(core)
            core.j_work = True
            lazy.call('journal_report', 'connected', core, now_ms)  # a backlog: before its replay
    else:
        core.boot = _B_PENDING if st == 'Pending' else _B_REJECTED
        core.boot_at = ticks_add(now_ms, (iv or _BOOT_RETRY_S) * 1000)
        core.log('BOOT_%s interval=%d' % ('PENDING' if st == 'Pending' else 'REJECTED', iv))


def payload(core):
    # the BootNotification payload (ocpp16_out sends it)
    info = core.info
    s = ('{"chargePointVendor":%s,"chargePointModel":%s,"firmwareVersion":"%s"'
         % (msg.q(info.get('vendor', 'Frostgrid')[:20]), msg.q(info.get('model', 'AC7')[:20]),
            _FIRMWARE_VERSION))
    if info.get('serial'):
        s += ',"chargePointSerialNumber":' + msg.q(info['serial'][:25])
    return s + '}'


def connected(core, now_ms):
    # Ocpp16.connected: a new connection starts with no CALL outstanding and the journal to send;
    # a station already accepted reports its present status, else it boots again
    core.online = True
    core.stale = False
    core.timeouts = 0
    ocpp16_out.clear(core)
    core.j_work = True
    core.j_blocked = False
    core.j_attempts = 0
    core.j_retry_at = None
    core.last_call_ms = now_ms
    if core.boot == _B_ACCEPTED:
        _status_now(core)
        lazy.call('journal_report', 'connected', core, now_ms)
    else:
        core.boot_at = now_ms
    ocpp16_out.pump(core, now_ms)


def disconnected(core, now_ms):
    # Ocpp16.disconnected: what only made sense online goes; authorization falls back to offline
    core.online = False
    ocpp16_out.clear(core)
    core.drop_queued('Heartbeat')
    core.drop_queued('Authorize')
    core.auth('auth_offline', now_ms)


def _status_now(core):
    # queued statuses are obsolete once the link is back: report the present one
    core.drop_queued('StatusNotification')
    core.enqueue('StatusNotification', msg.status(core.conn, core.ts()))
