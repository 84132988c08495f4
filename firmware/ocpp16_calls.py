# OCPP 1.6 CALLs from the Central System: answer() sends the CALLRESULT or CALLERROR of one CALL;
# handle() has the payload checked (Bad -> CALLERROR) and answered by ocpp16_conf (configuration
# and local list) or ocpp16_ops (the rest), one branch per action, loaded for the CALL. The
# response payload is a dict, or JSON bytes (GetConfiguration). CALLs a handler causes (a Stop, a
# triggered message) are held by the core until its CALLRESULT is sent. ocpp16_in loads this
# module for each CALL; lazy.py drops all three after.
import json
from micropython import const

import lazy
import rpc

# Every action handled, in three groups: ocpp16_conf's | ocpp16_ops's that may also come while the
# BootNotification is Pending | the rest of ocpp16_ops's. One text, not a tuple of strs: a fifth of
# the RAM.
_ACTIONS = const(' GetConfiguration ChangeConfiguration GetLocalListVersion SendLocalList'
                 ' | TriggerMessage DataTransfer ClearCache Reset'
                 ' | RemoteStartTransaction RemoteStopTransaction UnlockConnector ChangeAvailability'
                 ' | SetChargingProfile ClearChargingProfile GetCompositeSchedule ')  # 3: ocpp16_sc's
_B_ACCEPTED = const(3)  # core.boot (ocpp16.py)


def _group(action):
    # 0, 1 or 2 as above; -1 for an action not handled
    i = _ACTIONS.find(' %s ' % action) if ' ' not in action and '|' not in action else -1
    return _ACTIONS.count('|', 0, i) if i >= 0 else -1


class Bad(Exception):
    # args: (OCPP-J error code, description)
    pass


def answer(core, uid, action, p, now_ms):
    # one CALL from the backend: its CALLRESULT or CALLERROR goes to core.send
    group = _group(action)
    if group < 0:
        core.send(rpc.encode_error(uid, 'NotImplemented', 'unknown action'))
        return
    if core.boot != _B_ACCEPTED and group >= 2:
        core.send(rpc.encode_error(uid, 'SecurityError', 'BootNotification not accepted'))
        return
    core.hold = True  # CALLs the handler causes go out after its answer
    try:
        if type(p) is not dict:
            raise Bad('FormationViolation', 'payload is not an object')
        res = handle(core, action, p, now_ms)
    except Bad as e:
        core.send(rpc.encode_error(uid, e.args[0], e.args[1]))
        return
    except Exception as e:
        core.log('HANDLER %s %r' % (action, e), 'ERROR')
        core.send(rpc.encode_error(uid, 'InternalError', action))
        return
    finally:
        core.hold = False
    if type(res) is dict:
        core.send(rpc.encode_result(uid, res))
        return
    out = bytearray(b'[3,')  # a payload given as JSON bytes (GetConfiguration)
    out.extend(json.dumps(uid))
    out.extend(',')
    out.extend(res)
    out.extend(']')
    core.send(out)


def get(p, key, typ, required=True):
    v = p.get(key)
    if v is None:
        if required:
            raise Bad('OccurenceConstraintViolation', key + ' missing')
        return None
    if type(v) is not typ:
        raise Bad('TypeConstraintViolation', key)
    return v


def enum(p, key, choices):
    v = get(p, key, str)
    if v not in choices:
        raise Bad('PropertyConstraintViolation', key)
    return v


def id_tag(p, required=True):
    v = get(p, 'idTag', str, required)
    if v is not None and len(v) > 20:
        raise Bad('PropertyConstraintViolation', 'idTag > 20')
    return v


def handle(core, action, p, now_ms):
    # the response payload of a known action; raises Bad when the payload is not acceptable
    g = _group(action)
    res = lazy.call('ocpp16_sc' if g == 3 else 'ocpp16_ops' if g else 'ocpp16_conf', 'handle',
                    core, action, p, now_ms)
    return {'status': res} if type(res) is str else res
