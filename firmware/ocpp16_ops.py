# The operation CALLs of the Central System (Reset, Remote Start/Stop, UnlockConnector,
# ChangeAvailability, ClearCache, DataTransfer, TriggerMessage) for ocpp16_calls, which loads this
# module for each (lazy.py): one branch per action.
from micropython import const

import ocpp16_msg as msg
from ocpp16_calls import get, enum, id_tag

_VENDOR_ID = const('cn.frostgrid')
_TRIGGERS = const(('BootNotification', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification',
                   'Heartbeat', 'MeterValues', 'StatusNotification'))


def handle(core, action, p, now_ms):
    # the response payload of `action`, or just its status (a str)
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

    # TriggerMessage
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
        from ocpp16_sv import sampled  # dropped with this module
        e, pw = core.meter()
        sv = sampled('Trigger', e, pw, core.cfg_get('MeterValuesSampledData'), 0,
                     getattr(core, 'power', None), getattr(core, 'mtr', None))
        core.enqueue('MeterValues', msg.meter_values(c.connector_id, core.tx_id(), core.ts(), sv), True)
    else:
        return 'NotImplemented'
    return 'Accepted'
