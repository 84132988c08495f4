# The configuration and local-list CALLs of the Central System (Get/ChangeConfiguration,
# SendLocalList, GetLocalListVersion) for ocpp16_calls, which loads this module for each (lazy.py):
# one branch per action.
from ocpp16_calls import Bad, get, enum, id_tag


def handle(core, action, p, now_ms):
    # the response payload of `action`, or just its status (a str)
    if action == 'GetConfiguration':
        keys = get(p, 'key', list, False)
        for k in keys or ():
            if type(k) is not str:
                raise Bad('TypeConstraintViolation', 'key')
        return core.cfg.ocpp_get_json(keys)  # JSON bytes

    if action == 'ChangeConfiguration':
        key = get(p, 'key', str)
        value = get(p, 'value', str)
        if len(key) > 50 or len(value) > 500:
            raise Bad('PropertyConstraintViolation', 'key or value too long')
        st = core.cfg.ocpp_change(key, value)
        core.log('CONFIG %s=%s %s' % (key, value, st))
        return st

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
