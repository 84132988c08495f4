# Frames from the backend for ocpp16: answers to our outstanding CALL, and CALLs to answer
# (handlers in ocpp16_calls). Functions on the core; nothing here raises.
from micropython import const

import lazy
import ocpp16_out
import rpc

_B_REJECTED = const(2)  # core.boot (ocpp16.py)


def frame(core, text, now_ms):
    try:
        kind, uid, a, b = rpc.parse(text)
    except rpc.RpcError as e:
        if core.online and core.boot != _B_REJECTED:
            core.send(rpc.encode_error(e.uid, e.code, e.desc))
        core.log('BAD_FRAME %s %s' % (e.code, e.desc), 'WARN')
        return
    core.timeouts = 0
    core.stale = False
    try:
        if kind == rpc.CALL:
            if core.boot != _B_REJECTED:  # 1.6: a rejected Charge Point does not answer
                # the backend's CALLs are rare: their handlers are loaded for each (lazy.py)
                lazy.call('ocpp16_calls', 'answer', core, uid, a, b, now_ms)
            return
        action = core.pending.match(uid)
        if action is None:
            return  # late or unknown answer
        if kind != rpc.CALLRESULT:
            core.log('CALLERROR %s %s' % (action, a), 'WARN')
            ocpp16_out.failed(core, action, now_ms)
            return
        seq, ltx = core.p_seq, core.p_ltx
        ocpp16_out.clear(core)
        if seq >= 0:
            core.j_attempts = 0
        if action == 'BootNotification':
            lazy.call('ocpp16_boot', 'result', core, a, now_ms)  # once a connection
        elif action == 'StartTransaction':
            if not core.tx('start_result', a, seq, ltx, now_ms):
                ocpp16_out.retry_record(core, action, now_ms)  # no transactionId: not an answer
        elif action == 'StopTransaction':
            core.tx('stop_result', seq, ltx)
        elif action == 'MeterValues' and seq >= 0:
            core.journal.remove(seq)
        elif action == 'Authorize':
            core.auth('authorize_result', a, now_ms)
        elif action == 'Heartbeat':
            take_time(core, a)
    except Exception as e:
        core.log('HANDLER %r' % e, 'ERROR')


def take_time(core, p):
    # the backend's currentTime (Heartbeat and BootNotification answers) sets the clock, but not
    # back by a second or two: cut to whole seconds and as old as the round trip, such a step is
    # noise, and readings taken after it would repeat timestamps already sent (the backend then
    # holds two samples for one second). A clock more than 2 s fast is set back.
    t = p.get('currentTime')
    t = lazy.call('ocpp16_time', 'parse_iso', t) if type(t) is str else None
    if t is not None and core.set_time is not None:
        d = t - core.now_s()
        if d >= 0 or d < -2:
            core.set_time(t)
