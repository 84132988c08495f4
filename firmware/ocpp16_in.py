# Frames from the backend for ocpp16: answers to our outstanding CALL, and CALLs to answer
# (handlers in ocpp16_calls). Functions on the core; nothing here raises.
from time import ticks_add

import ocpp16_calls as calls
import ocpp16_msg as msg
import ocpp16_out as out
import ocpp16_tx as tx
import rpc


def frame(core, text, now_ms):
    try:
        kind, uid, a, b = rpc.parse(text)
    except rpc.RpcError as e:
        if core.online and core.boot != out.B_REJECTED:
            core.send(rpc.encode_error(e.uid, e.code, e.desc))
        core.log('BAD_FRAME %s %s' % (e.code, e.desc), 'WARN')
        return
    core.timeouts = 0
    core.stale = False
    try:
        if kind == rpc.CALL:
            _incoming(core, uid, a, b, now_ms)
        else:
            action = core.pending.match(uid)
            if action is None:
                return  # late or unknown answer
            if kind == rpc.CALLRESULT:
                _result(core, action, a, now_ms)
            else:
                core.log('CALLERROR %s %s' % (action, a), 'WARN')
                out.failed(core, action, now_ms)
    except Exception as e:
        core.log('HANDLER %r' % e, 'ERROR')


def _incoming(core, uid, action, p, now_ms):
    if core.boot == out.B_REJECTED:
        return  # 1.6: a rejected Charge Point does not answer the Central System
    h = calls.HANDLERS.get(action)
    if h is None:
        core.send(rpc.encode_error(uid, 'NotImplemented', 'unknown action'))
        return
    if core.boot != out.B_ACCEPTED and action not in calls.WHILE_PENDING:
        core.send(rpc.encode_error(uid, 'SecurityError', 'BootNotification not accepted'))
        return
    core.hold = True  # CALLs the handler causes go out after its answer
    try:
        if type(p) is not dict:
            raise calls.Bad('FormationViolation', 'payload is not an object')
        res = h(core, p, now_ms)
    except calls.Bad as e:
        core.send(rpc.encode_error(uid, e.args[0], e.args[1]))
        return
    except Exception as e:
        core.log('HANDLER %s %r' % (action, e), 'ERROR')
        core.send(rpc.encode_error(uid, 'InternalError', action))
        return
    finally:
        core.hold = False
    core.send(rpc.encode_result(uid, res))


def _result(core, action, p, now_ms):
    seq, ltx = core.p_seq, core.p_ltx
    out.clear(core)
    core.timeouts = 0
    if seq >= 0:
        core.j_attempts = 0
    if action == 'BootNotification':
        _boot_result(core, p, now_ms)
    elif action == 'StartTransaction':
        if not tx.start_result(core, p, seq, ltx, now_ms):
            out.retry_record(core, action, now_ms)  # no transactionId: not an answer
    elif action == 'StopTransaction':
        tx.stop_result(core, seq, ltx)
    elif action == 'MeterValues' and seq >= 0:
        core.journal.remove(seq)
    elif action == 'Authorize':
        tx.authorize_result(core, p, now_ms)
    elif action == 'Heartbeat':
        _take_time(core, p)


def _take_time(core, p):
    t = p.get('currentTime')
    t = msg.parse_iso(t) if type(t) is str else None
    if t is not None and core.set_time is not None:
        core.set_time(t)


def _boot_result(core, p, now_ms):
    st = p.get('status')
    iv = p.get('interval')
    iv = iv if type(iv) is int and iv > 0 else 0
    _take_time(core, p)
    if st == 'Accepted':
        first = core.boot != out.B_ACCEPTED
        core.boot = out.B_ACCEPTED
        core.log('BOOT_ACCEPTED interval=%d' % iv)
        if iv and iv != core.cfg_get('HeartbeatInterval'):
            try:
                core.cfg.set('HeartbeatInterval', iv)
            except Exception as e:
                core.log('CONFIG %r' % e, 'WARN')
        if first:
            core.status_now()
            core.j_work = True
    else:
        core.boot = out.B_PENDING if st == 'Pending' else out.B_REJECTED
        core.boot_at = ticks_add(now_ms, (iv or out.BOOT_RETRY_S) * 1000)
        core.log('BOOT_%s interval=%d' % ('PENDING' if st == 'Pending' else 'REJECTED', iv))
