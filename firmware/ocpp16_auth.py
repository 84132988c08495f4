# Authorization for ocpp16: functions on the Ocpp16 core, whose fields they share (see
# Ocpp16.__init__): a card presented (Ocpp16.present_tag) or a RemoteStartTransaction is
# authorized online (Authorize), from the local list or the authorization cache, or offline by
# LocalAuthorizeOffline / AllowOfflineTxForUnknownId. They run on events, so the core loads this
# module for each (Ocpp16.auth) and drops it after.
import lazy
import ocpp16_msg as msg


# ---- authorization --------------------------------------------------------------------------
def present_tag(core, tag, now_ms):
    # Ocpp16.present_tag: the card that started the session ends it; else it asks to start one
    c = core.conn
    if c.tx_active and tag == core.tx_tag:
        core.tx('stop', 'Local', tag, now_ms)
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
    core.remember(tag, info)
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
    t = lazy.call('ocpp16_time', 'parse_iso', info.get('expiryDate') or '')
    return t is None or t > core.now_s()
