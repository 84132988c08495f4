# Code that runs rarely is loaded for one call and dropped after (lazy.py): the charger keeps it
# out of RAM the rest of the time, and behaves the same (runs in MicroPython).
import gc
import sys

import lazy
from fake_rig import Rig, session

ON_DEMAND = ('ocpp16_calls', 'ocpp16_boot', 'ocpp16_tx', 'ocpp16_auth', 'journal_fix', 'ocpp_keys',
             'auth_list', 'fsutil', 'rpc_bad', 'ws_handshake', 'ws_refused', 'ws_url', 'ws_close',
             'ws_fail', 'ocpp16_time', 'ocpp16_ops', 'ocpp16_conf', 'config_load', 'app_boot')


def _loaded():
    return [m for m in ON_DEMAND if m in sys.modules]


def test_a_module_loaded_for_a_call_is_dropped_and_its_memory_comes_back():
    assert 'ws_url' not in sys.modules
    lazy.call('ws_url', 'parse_url', 'ws://h:1/p')  # the first load interns its names for good
    gc.collect()
    before = gc.mem_alloc()
    assert lazy.call('ws_url', 'parse_url', 'ws://h:1/p') == (False, 'h', 1, '/p')
    assert 'ws_url' not in sys.modules
    gc.collect()
    assert gc.mem_alloc() - before < 128, gc.mem_alloc() - before


def test_a_module_someone_loaded_before_stays_loaded():
    import ws_url
    assert lazy.call('ws_url', 'parse_url', 'ws://h/') == (False, 'h', 80, '/')
    assert 'ws_url' in sys.modules and sys.modules['ws_url'] is ws_url
    del sys.modules['ws_url']


def test_an_exception_in_the_call_still_drops_the_module():
    try:
        lazy.call('ws_url', 'parse_url', 'http://nope')
        raise AssertionError('accepted a http URL')
    except Exception as e:
        assert type(e).__name__ == 'WsError', e
    assert 'ws_url' not in sys.modules


def test_a_whole_session_with_backend_calls_leaves_no_rarely_used_code_loaded():
    r = Rig({'MeterValueSampleInterval': 1})
    assert _loaded() == []
    start = session(r)
    assert _loaded() == []
    r.reply(start, {'transactionId': 5, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    ans = r.call('GetConfiguration', {'key': ['HeartbeatInterval']})
    assert ans[0] == 3 and ans[2]['configurationKey'][0]['value'] == '300'
    assert r.call('RemoteStopTransaction', {'transactionId': 5}) == [3, 'cs-1', {'status': 'Accepted'}]
    stop = r.expect('StopTransaction')
    r.reply(stop, {})
    assert r.logged('TX_ACKED ltx=1')
    assert _loaded() == []


def test_start_cut_short_by_an_exhausted_heap_keeps_the_card_for_the_next_step():
    r = Rig()
    r.boot()
    r.ack_all()
    r.plug('C')
    r.tag('CARD7')
    r.reply(r.expect('Authorize'), {'idTagInfo': {'status': 'Accepted'}})
    real = r.core.meter
    calls = []

    def meter():  # the first reading of the start fails as an allocation would
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError()
        return real()

    r.core.meter = meter
    try:
        r.step()
        raise AssertionError('the failed start was not reported')
    except MemoryError:
        pass
    r.core.meter = real
    r.step()
    p = r.expect('StartTransaction')[3]
    assert p['idTag'] == 'CARD7'
