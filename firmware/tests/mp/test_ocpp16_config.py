# The backend's configuration and local-list CALLs through the real Config and auth stores
# (ocpp16_calls handlers on a minimal core: the whole OCPP core with every real store does not fit
# the 100 kB test heap when compiled from source).
import json
import os

from config import Config
from auth import AuthCache, LocalList
import ocpp16_calls as calls


class _Core:
    def __init__(self):
        for f in ('config.json', 'auth.json', 'authcache.json'):
            try:
                os.remove(f)
            except OSError:
                pass
        self.cfg = Config('config.json')
        self.local = LocalList('auth.json')
        self.cache = AuthCache('authcache.json')
        self.logs = []

    def cfg_get(self, key):
        return self.cfg.get(key)

    def log(self, text, level='INFO'):
        self.logs.append(text)


def _call(core, action, payload):
    # the response payload, or the CALLERROR code
    try:
        res = calls.handle(core, action, payload, 0)
    except calls.Bad as e:
        return e.args[0]
    return res if type(res) is dict else json.loads(res)  # GetConfiguration: JSON bytes


def test_get_configuration_reports_standard_keys_with_read_only_flags():
    core = _Core()
    res = _call(core, 'GetConfiguration', {'key': ['HeartbeatInterval', 'NumberOfConnectors', 'Nope']})
    assert res['configurationKey'] == [
        {'key': 'HeartbeatInterval', 'readonly': False, 'value': '300'},
        {'key': 'NumberOfConnectors', 'readonly': True, 'value': '1'}]
    assert res['unknownKey'] == ['Nope']
    every = [e['key'] for e in _call(core, 'GetConfiguration', {})['configurationKey']]
    for key in ('AuthorizeRemoteTxRequests', 'LocalAuthorizeOffline', 'MeterValuesSampledData',
                'StopTransactionOnEVSideDisconnect', 'TransactionMessageAttempts', 'LocalAuthListEnabled'):
        assert key in every, key


def test_change_configuration_read_only_refused_and_changes_persist():
    core = _Core()
    assert _call(core, 'ChangeConfiguration', {'key': 'NumberOfConnectors', 'value': '2'}) == \
        {'status': 'Rejected'}
    assert _call(core, 'ChangeConfiguration', {'key': 'MeterValueSampleInterval', 'value': 'soon'}) == \
        {'status': 'Rejected'}
    unknown = {'key': 'NoSuchKey', 'value': '1'}
    assert _call(core, 'ChangeConfiguration', unknown) == {'status': 'NotSupported'}
    assert _call(core, 'ChangeConfiguration', {'key': 'MeterValueSampleInterval', 'value': '15'}) == \
        {'status': 'Accepted'}
    assert Config('config.json').get('MeterValueSampleInterval') == 15  # after a reboot too
    assert _call(core, 'ChangeConfiguration', {'key': 'HeartbeatInterval'}) == 'OccurenceConstraintViolation'
    assert _call(core, 'ChangeConfiguration', {'key': 'HeartbeatInterval', 'value': 60}) == \
        'TypeConstraintViolation'


def test_local_list_full_then_differential_with_versions():
    core = _Core()
    assert _call(core, 'GetLocalListVersion', {}) == {'listVersion': 0}
    full = {'listVersion': 2, 'updateType': 'Full',
            'localAuthorizationList': [{'idTag': 'CARD1', 'idTagInfo': {'status': 'Accepted'}}]}
    assert _call(core, 'SendLocalList', full) == {'status': 'Accepted'}
    assert core.local.lookup('CARD1')['status'] == 'Accepted'
    diff = {'listVersion': 2, 'updateType': 'Differential',
            'localAuthorizationList': [{'idTag': 'CARD2', 'idTagInfo': {'status': 'Blocked'}}]}
    assert _call(core, 'SendLocalList', diff) == {'status': 'VersionMismatch'}
    diff['listVersion'] = 3
    assert _call(core, 'SendLocalList', diff) == {'status': 'Accepted'}
    assert _call(core, 'GetLocalListVersion', {}) == {'listVersion': 3}
    bad = {'listVersion': 4, 'updateType': 'Full', 'localAuthorizationList': [{'idTagInfo': {}}]}
    assert _call(core, 'SendLocalList', bad) == 'OccurenceConstraintViolation'


def test_local_list_management_disabled_answers_not_supported():
    core = _Core()
    core.cfg.set('LocalAuthListEnabled', False)
    full = {'listVersion': 1, 'updateType': 'Full'}
    assert _call(core, 'SendLocalList', full) == {'status': 'NotSupported'}
    assert _call(core, 'GetLocalListVersion', {}) == {'listVersion': -1}


def test_clear_cache_empties_the_real_cache():
    core = _Core()
    core.cache.put('CARD1', {'status': 'Accepted'})
    assert _call(core, 'ClearCache', {}) == {'status': 'Accepted'}
    assert core.cache.lookup('CARD1') is None
    assert AuthCache('authcache.json').lookup('CARD1') is None
