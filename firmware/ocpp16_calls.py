# OCPP 1.6 CALLs from the Central System: one handler per action, HANDLERS maps action -> handler.
# A handler checks the payload (raising Bad -> CALLERROR), asks the core or the domain objects,
# and returns the response payload. CALLs it causes (a Stop, a triggered message) are held by the
# core until its CALLRESULT is sent.
import ocpp16_msg as msg
import ocpp16_tx as tx

VENDOR_ID = 'cn.frostgrid'
TRIGGERS = ('BootNotification', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification',
            'Heartbeat', 'MeterValues', 'StatusNotification')
# what a Central System may ask while the BootNotification is Pending
WHILE_PENDING = ('GetConfiguration', 'ChangeConfiguration', 'TriggerMessage', 'DataTransfer',
                 'GetLocalListVersion', 'SendLocalList', 'ClearCache', 'Reset')


class Bad(Exception):
    # args: (OCPP-J error code, description)
    pass


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


def _ok(st):
    return {'status': st}


def reset(core, p, now_ms):
    hard = enum(p, 'type', ('Hard', 'Soft')) == 'Hard'
    core.reset_req = 2 if hard else 1
    core.reset_at = now_ms
    core.log('RESET_REQUESTED %s' % p['type'])
    core.stop_tx('HardReset' if hard else 'SoftReset', None, now_ms)
    return _ok('Accepted')


def remote_start(core, p, now_ms):
    tag = id_tag(p)
    cid = get(p, 'connectorId', int, False)
    get(p, 'chargingProfile', dict, False)
    c = core.conn
    if (cid is not None and cid != c.connector_id) or c.tx_active or not c.available \
            or c.fault is not None or core.reset_req:
        return _ok('Rejected')
    if core.cfg_get('AuthorizeRemoteTxRequests'):
        tx.authorize(core, tag, now_ms)
    else:
        tx.accept(core, tag, now_ms)
    return _ok('Accepted')


def remote_stop(core, p, now_ms):
    txid = get(p, 'transactionId', int)
    if core.tx_ltx and core.tx_id() == txid:
        core.stop_tx('Remote', None, now_ms)
        return _ok('Accepted')
    return _ok('Rejected')


def unlock(core, p, now_ms):
    if get(p, 'connectorId', int) != core.conn.connector_id or core.unlock is None:
        return _ok('NotSupported')
    core.stop_tx('UnlockCommand', None, now_ms)
    try:
        return _ok(core.unlock())
    except Exception as e:
        core.log('UNLOCK_FAILED %r' % e, 'WARN')
        return _ok('UnlockFailed')


def change_availability(core, p, now_ms):
    cid = get(p, 'connectorId', int)
    op = enum(p, 'type', ('Inoperative', 'Operative')) == 'Operative'
    if cid not in (0, core.conn.connector_id):
        return _ok('Rejected')
    was = core.conn.available
    st = core.conn.set_available(op)
    if core.conn.available != was:
        core.save_availability()
    return _ok(st)


def get_configuration(core, p, now_ms):
    keys = get(p, 'key', list, False)
    for k in keys or ():
        if type(k) is not str:
            raise Bad('TypeConstraintViolation', 'key')
    known, unknown = core.cfg.ocpp_get(keys)
    res = {'configurationKey': known}
    if unknown:
        res['unknownKey'] = unknown
    return res


def change_configuration(core, p, now_ms):
    key = get(p, 'key', str)
    value = get(p, 'value', str)
    if len(key) > 50 or len(value) > 500:
        raise Bad('PropertyConstraintViolation', 'key or value too long')
    st = core.cfg.ocpp_change(key, value)
    core.log('CONFIG %s=%s %s' % (key, value, st))
    return _ok(st)


def clear_cache(core, p, now_ms):
    core.cache.clear()
    return _ok('Accepted')


def data_transfer(core, p, now_ms):
    vendor = get(p, 'vendorId', str)
    mid = get(p, 'messageId', str, False)
    get(p, 'data', str, False)
    if vendor != VENDOR_ID:
        return _ok('UnknownVendorId')
    if mid == 'ping':
        return {'status': 'Accepted', 'data': 'pong'}
    return _ok('UnknownMessageId')


def trigger(core, p, now_ms):
    what = enum(p, 'requestedMessage', TRIGGERS)
    cid = get(p, 'connectorId', int, False)
    if cid is not None and cid != core.conn.connector_id and (cid != 0 or what == 'MeterValues'):
        return _ok('Rejected')
    if what == 'BootNotification':
        core.boot_trig = True
    elif what == 'Heartbeat':
        core.enqueue('Heartbeat', '{}', True)
    elif what == 'StatusNotification':
        core.enqueue('StatusNotification', msg.status(core.conn, core.ts()), True)
    elif what == 'MeterValues':
        e, pw = core.meter()
        sv = msg.sampled('Trigger', e, pw, core.cfg_get('MeterValuesSampledData'))
        sv = msg.meter_values(core.conn.connector_id, core.tx_id(), core.ts(), sv)
        core.enqueue('MeterValues', sv, True)
    else:
        return _ok('NotImplemented')
    return _ok('Accepted')


def send_local_list(core, p, now_ms):
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
        return _ok('NotSupported')
    most = core.cfg_get('SendLocalListMaxLength')
    if most and len(entries) > most:
        return _ok('Failed')
    return _ok(core.local.update(version, entries, full))


def get_local_list_version(core, p, now_ms):
    return {'listVersion': core.local.version if core.cfg_get('LocalAuthListEnabled') else -1}


HANDLERS = {
    'Reset': reset,
    'RemoteStartTransaction': remote_start,
    'RemoteStopTransaction': remote_stop,
    'UnlockConnector': unlock,
    'ChangeAvailability': change_availability,
    'GetConfiguration': get_configuration,
    'ChangeConfiguration': change_configuration,
    'ClearCache': clear_cache,
    'DataTransfer': data_transfer,
    'TriggerMessage': trigger,
    'SendLocalList': send_local_list,
    'GetLocalListVersion': get_local_list_version,
}
