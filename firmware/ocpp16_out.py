# The one outstanding CALL of ocpp16: what goes next (BootNotification until accepted, then the
# journal oldest-first, then the RAM queue), timeouts, retries, Heartbeat. Functions on the core.
from micropython import const
from time import ticks_add, ticks_diff

import lazy

_B_PENDING = const(1)  # core.boot (ocpp16.py)
_B_ACCEPTED = const(3)
_BOOT_RETRY_S = const(30)  # when the backend gives no interval (also in ocpp16_in)
_STALE_TIMEOUTS = const(2)  # consecutive CALL timeouts that mark the link stale


def clear(core):
    core.pending.clear()
    core.p_seq = -1


def call(core, action, payload, now_ms, seq=-1, ltx=0):
    uid = core.ids.next()
    core.pending.start(uid, action, now_ms, core.call_timeout_ms)
    core.last_call_ms = now_ms
    core.p_seq = seq
    core.p_ltx = ltx
    core.send('[2,"%s","%s",%s]' % (uid, action, payload))


def pump(core, now_ms):
    # send the next CALL when none is outstanding
    if not core.online or core.pending.busy or core.hold:
        return
    q = core.queue
    if core.boot_trig or core.boot != _B_ACCEPTED:
        if core.boot_trig or ticks_diff(now_ms, core.boot_at) >= 0:
            core.boot_trig = False
            call(core, 'BootNotification', lazy.call('ocpp16_boot', 'payload', core), now_ms)
        elif core.boot == _B_PENDING:
            for i in range(len(q)):  # only what TriggerMessage asked for
                if q[i][2]:
                    a, p, _ = q.pop(i)
                    call(core, a, p, now_ms)
                    return
        return
    if core.j_retry_at is not None and ticks_diff(now_ms, core.j_retry_at) >= 0:
        core.j_retry_at = None
    if core.j_work and not core.j_blocked and core.j_retry_at is None:
        for _ in range(8):  # bounded: orphan records are dropped on the way
            rec = core.journal.first('STM')
            if rec is None:
                core.j_work = False
                if core.j_high:  # the backlog reported at connection is gone: say so
                    lazy.call('journal_report', 'drained', core)
                break
            seq, kind, data = rec
            i = data.find(' ')
            ltx = int(data[:i])
            if kind == 'S':
                call(core, 'StartTransaction', data[i + 1:], now_ms, seq, ltx)
                return
            b = core.bind.get(ltx)
            if b is None and ltx:
                # no Start and no binding: its Stop was answered before a power cut
                core.journal.remove(seq)
                continue
            # the backend's transactionId goes in first
            if kind == 'T':  # "<ltx> {...}"
                call(core, 'StopTransaction', '{"transactionId":%d,%s' % (b[0], data[i + 2:]),
                     now_ms, seq, ltx)
            else:  # "<ltx> ..." without braces; ltx 0: clock-aligned, outside a transaction
                call(core, 'MeterValues', '{"transactionId":%d,%s}' % (b[0], data[i + 1:]) if ltx
                     else '{%s}' % data[i + 1:], now_ms, seq, ltx)
            return
    if q:
        a, p, _ = q.pop(0)
        call(core, a, p, now_ms)


def tick(core, now_ms):
    # the outstanding CALL's timeout; a Heartbeat when nothing was sent for HeartbeatInterval
    action = core.pending.expired(now_ms)
    if action is not None:
        core.log('TIMEOUT %s' % action, 'WARN')
        core.timeouts += 1
        core.stale = core.timeouts >= _STALE_TIMEOUTS
        failed(core, action, now_ms)
    if core.accepted() and not core.pending.busy and not core.queue:
        hb = core.cfg_get('HeartbeatInterval') or 0
        if hb > 0 and ticks_diff(now_ms, core.last_call_ms) >= hb * 1000:
            core.enqueue('Heartbeat', '{}')


def failed(core, action, now_ms):
    # CALLERROR or timeout of the outstanding CALL (already cleared from core.pending)
    seq = core.p_seq
    clear(core)
    if seq >= 0:
        retry_record(core, action, now_ms)
    elif action == 'BootNotification':
        core.boot_at = ticks_add(now_ms, _BOOT_RETRY_S * 1000)
    elif action == 'Authorize':
        core.auth('auth_offline', now_ms)


def retry_record(core, action, now_ms):
    # the record stays in the journal: retried later, never dropped
    core.j_attempts += 1
    if core.j_attempts >= (core.cfg_get('TransactionMessageAttempts') or 3):
        core.j_blocked = True
        core.j_attempts = 0
        core.log('JOURNAL_BLOCKED %s' % action, 'WARN')
    else:
        iv = core.cfg_get('TransactionMessageRetryInterval') or 0
        core.j_retry_at = ticks_add(now_ms, iv * 1000 * core.j_attempts)
