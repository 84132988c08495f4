# OCPP 1.6 device side, authorization and transactions, driven with a fake transport and a
# fake clock (fake_rig.py).
from fake_rig import Rig, session, values
import ocpp16_msg as msg


def test_authorize_start_meter_values_stop_with_transaction_data():
    r = Rig({'MeterValueSampleInterval': 10})
    r.energy_wh = 1000
    start = session(r)
    p = start[3]
    assert p == {'connectorId': 1, 'idTag': 'CARD1', 'meterStart': 1000, 'timestamp': msg.iso(r.now_s())}
    r.reply(start, {'transactionId': 77, 'idTagInfo': {'status': 'Accepted'}})
    assert r.core.tx_id() == 77 and r.conn.want_contactor()
    r.ack_all()
    r.power_w = 7000
    for _ in range(50):
        r.energy_wh += 20
        r.step()
    mvs = [c[3] for c in r.ack_all()]
    mvs = [m for m in mvs if 'meterValue' in m]
    assert len(mvs) == 1
    mv = mvs[0]
    assert mv['transactionId'] == 77
    sv = mv['meterValue'][0]['sampledValue']
    assert sv[0] == {'value': '2000', 'context': 'Sample.Periodic',
                     'measurand': 'Energy.Active.Import.Register', 'unit': 'Wh'}
    assert sv[1]['measurand'] == 'Power.Active.Import' and sv[1]['value'] == '7000' and sv[1]['unit'] == 'W'
    r.tag('CARD1')  # same card ends the session
    stop = r.expect('StopTransaction')[3]
    assert stop['transactionId'] == 77 and stop['reason'] == 'Local' and stop['meterStop'] == 2000
    assert stop['idTag'] == 'CARD1'
    begin, end = stop['transactionData']
    assert begin['sampledValue'][0]['context'] == 'Transaction.Begin'
    assert values(begin, 'Energy.Active.Import.Register') == [1000]
    assert end['sampledValue'][0]['context'] == 'Transaction.End'
    assert values(end, 'Energy.Active.Import.Register') == [2000]
    assert not r.conn.want_contactor()
    assert r.logged('TX_START ltx=1') and r.logged('TX_STOP ltx=1 reason=Local')


def test_ev_unplugged_stops_transaction_with_ev_disconnected():
    r = Rig()
    start = session(r)
    r.reply(start, {'transactionId': 5, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    r.step(cp='A')
    stops = [c for c in r.ack_all() if c[2] == 'StopTransaction']
    assert stops[0][3]['reason'] == 'EVDisconnected' and stops[0][3]['transactionId'] == 5
    assert r.kinds() == ''


def test_remote_start_authorizes_then_starts_and_remote_stop_needs_running_id():
    r = Rig()
    r.boot()
    r.ack_all()
    r.plug('C')
    r.ack_all()
    assert r.call('RemoteStartTransaction', {'idTag': 'APP1', 'connectorId': 1})[2]['status'] == 'Accepted'
    a = r.expect('Authorize')  # AuthorizeRemoteTxRequests is true by default
    r.reply(a, {'idTagInfo': {'status': 'Accepted'}})
    r.step()
    s = r.expect('StartTransaction')
    assert s[3]['idTag'] == 'APP1'
    r.reply(s, {'transactionId': 9, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert r.call('RemoteStartTransaction', {'idTag': 'APP2'})[2]['status'] == 'Rejected'
    assert r.call('RemoteStopTransaction', {'transactionId': 8})[2]['status'] == 'Rejected'
    assert r.call('RemoteStopTransaction', {'transactionId': 9})[2]['status'] == 'Accepted'
    stop = r.expect('StopTransaction')[3]
    assert stop['reason'] == 'Remote' and stop['transactionId'] == 9


def test_remote_start_without_authorize_requests_starts_at_once():
    r = Rig({'AuthorizeRemoteTxRequests': False})
    r.boot()
    r.ack_all()
    r.plug('B')
    assert r.call('RemoteStartTransaction', {'idTag': 'APP1'})[2]['status'] == 'Accepted'
    r.step()
    assert r.calls('Authorize') == []
    r.expect('StartTransaction')


def test_soft_reset_stops_transaction_then_reboots():
    r = Rig()
    s = session(r)
    r.reply(s, {'transactionId': 3, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert r.call('Reset', {'type': 'Soft'})[2]['status'] == 'Accepted'
    stop = r.expect('StopTransaction')
    assert stop[3]['reason'] == 'SoftReset'
    r.run(2000)
    assert r.resets == []  # waits for the Stop to be acknowledged
    r.reply(stop, {})
    r.run(1000)
    assert r.resets == [False]


def test_hard_reset_stops_with_hard_reset_and_reboots_without_waiting():
    r = Rig()
    s = session(r)
    r.reply(s, {'transactionId': 3, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert r.call('Reset', {'type': 'Hard'})[2]['status'] == 'Accepted'
    assert r.expect('StopTransaction')[3]['reason'] == 'HardReset'
    r.run(1000)
    assert r.resets == [True]
    assert r.kinds() == 'BT'  # the unanswered Stop is replayed after the reboot


def test_start_with_invalid_id_stops_with_deauthorized():
    r = Rig()
    s = session(r)
    r.reply(s, {'transactionId': 12, 'idTagInfo': {'status': 'Blocked'}})
    stop = r.expect('StopTransaction')[3]
    assert stop['reason'] == 'DeAuthorized' and stop['transactionId'] == 12
    assert r.cache.lookup('CARD1')['status'] == 'Blocked'


def test_change_availability_is_scheduled_during_transaction():
    r = Rig()
    s = session(r)
    r.reply(s, {'transactionId': 12, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert r.call('ChangeAvailability', {'connectorId': 1, 'type': 'Inoperative'})[2]['status'] == 'Scheduled'
    assert r.conn.want_contactor()
    r.step(cp='A')
    sts = [c[3]['status'] for c in r.ack_all() if c[2] == 'StatusNotification']
    assert sts[-1] == 'Unavailable'
    r.reboot()
    assert not r.conn.available  # kept across the reboot (config key 'Operative')
    r.boot()
    assert r.call('ChangeAvailability', {'connectorId': 0, 'type': 'Operative'})[2]['status'] == 'Accepted'
    assert r.call('ChangeAvailability', {'connectorId': 7, 'type': 'Operative'})[2]['status'] == 'Rejected'


def test_unlock_connector_stops_transaction_and_unlocks():
    r = Rig()
    s = session(r)
    r.reply(s, {'transactionId': 12, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert r.conn.want_lock()
    ans = r.call('UnlockConnector', {'connectorId': 1})
    assert ans[2]['status'] == 'Unlocked'
    assert r.expect('StopTransaction')[3]['reason'] == 'UnlockCommand'
    assert not r.conn.want_lock()
    assert r.call('UnlockConnector', {'connectorId': 2})[2]['status'] == 'NotSupported'
    r.unlock_result = 'UnlockFailed'
    assert r.call('UnlockConnector', {'connectorId': 1})[2]['status'] == 'UnlockFailed'


def test_authorization_cache_filled_by_authorize_and_cleared():
    r = Rig()
    session(r)
    assert r.cache.lookup('CARD1')['status'] == 'Accepted'
    assert r.call('ClearCache', {})[2]['status'] == 'Accepted'
    assert r.cache.lookup('CARD1') is None


def test_authorize_timeout_falls_back_to_local_rules():
    r = Rig({'AllowOfflineTxForUnknownId': True})
    r.boot()
    r.ack_all()
    r.plug('C')
    r.tag('X1')
    r.expect('Authorize')
    r.run(31000)
    assert r.conn.tx_active  # authorized offline once the Authorize timed out


def test_periodic_samples_never_share_a_second_when_the_loop_runs_late():
    # a 1 s interval on a loop that is sometimes late: a late sample and the next one on the
    # interval's grid may fall in the same wall-clock second, and the backend would hold two
    # readings with one timestamp (seen in the kill -9 HIL run on a loaded machine)
    r = Rig({'MeterValueSampleInterval': 1})
    r.reply(session(r), {'transactionId': 5, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    stamps = []
    for dt in (150, 950, 90, 880, 130, 200, 640, 420, 990, 60, 300, 700) * 5:
        r.energy_wh += 1
        r.step(dt)
        for c in r.ack_all():
            if c[2] == 'MeterValues' and c[3].get('transactionId') == 5:
                stamps.append(c[3]['meterValue'][0]['timestamp'])
    assert len(stamps) >= 20, stamps
    assert len(set(stamps)) == len(stamps), stamps
    assert stamps == sorted(stamps)
