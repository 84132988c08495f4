# OCPP 1.6 CALLs from the Central System: answer() sends the CALLRESULT or CALLERROR of one CALL;
# handle() checks the payload (Bad -> CALLERROR), asks the core or the domain objects and returns
# the response payload, one branch of _handle per action (a chain of branches rather than a
# function per action: fewer objects and names in RAM). CALLs a handler causes (a Stop, a
# triggered message) are held by the core until its CALLRESULT is sent. ocpp16_in loads this
# module for each CALL and drops it after.
from micropython import const

import ocpp16_msg as msg
import rpc

# every action handled; the first 8 may also come while the BootNotification is Pending
_ACTIONS = const(('GetConfiguration', 'ChangeConfiguration', 'TriggerMessage', 'DataTransfer',
                  'GetLocalListVersion', 'SendLocalList', 'ClearCache', 'Reset',
                  'RemoteStartTransaction', 'RemoteStopTransaction', 'UnlockConnector',
                  'ChangeAvailability'))
_WHILE_PENDING = const(8)
_B_ACCEPTED = const(3)  # core.boot (ocpp16.py)
_VENDOR_ID = const('cn.frostgrid')
_TRIGGERS = const(('BootNotification', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification',
                   'Heartbeat', 'MeterValues', 'StatusNotification'))


class Bad(Exception):
    # args: (OCPP-J error code, description)
    pass


def answer(core, uid, action, p, now_ms):
    # one CALL from the backend: its CALLRESULT or CALLERROR goes to core.send
    if action not in _ACTIONS:
        core.send(rpc.encode_error(uid, 'NotImplemented', 'unknown action'))
        return
    if core.boot != _B_ACCEPTED and _ACTIONS.index(action) >= _WHILE_PENDING:
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
    core.send(rpc.encode_result(uid, res))


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
    res = _handle(core, action, p, now_ms)
    return res if type(res) is dict else {'status': res}


def _handle(core, action, p, now_ms):
    # the response payload, or just its status (a str)
    if action == 'Reset':
        hard = enum(p, 'type', ('Hard', 'Soft')) == 'Hard'
        core.reset_req = 2 if hard else 1
        core.reset_at = now_ms
        core.log('RESET_REQUESTED %s' % p['type'])
        core.tx('stop', 'HardReset' if hard else 'SoftReset', None, now_ms)
        return 'Accepted'

    if action == 'RemoteStartTransaction':
        c = core.conn
        tag = id_tag(p)
        cid = get(p, 'connectorId', int, False)
        get(p, 'chargingProfile', dict, False)
        if (cid is not None and cid != c.connector_id) or c.tx_active or not c.available \
                or c.fault is not None or core.reset_req:
            return 'Rejected'
        if core.cfg_get('AuthorizeRemoteTxRequests'):
            core.auth('authorize', tag, now_ms)
        else:
            core.auth('accept', tag, now_ms)
        return 'Accepted'

    if action == 'RemoteStopTransaction':
        txid = get(p, 'transactionId', int)
        if core.tx_ltx and core.tx_id() == txid:
            core.tx('stop', 'Remote', None, now_ms)
            return 'Accepted'
        return 'Rejected'

    if action == 'UnlockConnector':
        c = core.conn
        if get(p, 'connectorId', int) != c.connector_id or core.unlock is None:
            return 'NotSupported'
        core.tx('stop', 'UnlockCommand', None, now_ms)
        try:
            return core.unlock()
        except Exception as e:
            core.log('UNLOCK_FAILED %r' % e, 'WARN')
            return 'UnlockFailed'

    if action == 'ChangeAvailability':
        c = core.conn
        cid = get(p, 'connectorId', int)
        op = enum(p, 'type', ('Inoperative', 'Operative')) == 'Operative'
        if cid not in (0, c.connector_id):
            return 'Rejected'
        was = c.available
        st = c.set_available(op)
        if c.available != was:
            core.save_availability()
        return st

    if action == 'GetConfiguration':
        keys = get(p, 'key', list, False)
        for k in keys or ():
            if type(k) is not str:
                raise Bad('TypeConstraintViolation', 'key')
        known, unknown = core.cfg.ocpp_get(keys)
        res = {'configurationKey': known}
        if unknown:
            res['unknownKey'] = unknown
        return res

    if action == 'ChangeConfiguration':
        key = get(p, 'key', str)
        value = get(p, 'value', str)
        if len(key) > 50 or len(value) > 500:
            raise Bad('PropertyConstraintViolation', 'key or value too long')
        st = core.cfg.ocpp_change(key, value)
        core.log('CONFIG %s=%s %s' % (key, value, st))
        return st

    if action == 'ClearCache':
        core.cache.clear()
        return 'Accepted'

    if action == 'DataTransfer':
        vendor = get(p, 'vendorId', str)
        mid = get(p, 'messageId', str, False)
        get(p, 'data', str, False)
        if vendor != _VENDOR_ID:
            return 'UnknownVendorId'
        if mid == 'ping':
            return {'status': 'Accepted', 'data': 'pong'}
        return 'UnknownMessageId'

    if action == 'TriggerMessage':
        c = core.conn
        what = enum(p, 'requestedMessage', _TRIGGERS)
        cid = get(p, 'connectorId', int, False)
        if cid is not None and cid != c.connector_id and (cid != 0 or what == 'MeterValues'):
            return 'Rejected'
        if what == 'BootNotification':
            core.boot_trig = True
        elif what == 'Heartbeat':
            core.enqueue('Heartbeat', '{}', True)
        elif what == 'StatusNotification':
            core.enqueue('StatusNotification', msg.status(c, core.ts()), True)
        elif what == 'MeterValues':
            e, pw = core.meter()
            sv = msg.sampled('Trigger', e, pw, core.cfg_get('MeterValuesSampledData'))
            core.enqueue('MeterValues', msg.meter_values(c.connector_id, core.tx_id(), core.ts(), sv), True)
        else:
            return 'NotImplemented'
        return 'Accepted'

    if action == 'SendLocalList':
        version = get(p, 'listVersion', int)
        full = enum(p, 'updateType', ('Differential', 'Full')) == 'Full'
        entries = get(p, 'localAuthorizationList', list, False) or []
        for e in entries:
            if type(e) is not dict:
                raise Bad('TypeConstraintViolation', 'localAuthorizationList')
            id_tag(e)
            info = get(e, 'idTagInfo', dict, False)
            if info is not None:
                enum(info, 'status', ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx'))
        if not core.cfg_get('LocalAuthListEnabled'):
            return 'NotSupported'
        most = core.cfg_get('SendLocalListMaxLength')
        if most and len(entries) > most:
            return 'Failed'
        return core.local.update(version, entries, full)

    # GetLocalListVersion
    return {'listVersion': core.local.version if core.cfg_get('LocalAuthListEnabled') else -1}
