# OCPP 1.6 device side, boot and the backend's CALLs, driven with a fake transport and a fake
# clock (fake_rig.py).
from fake_rig import Rig
import ocpp16_msg as msg
import ocpp16_time


def test_iso_timestamps_round_trip():
    assert msg.iso(1768888800) == '2026-01-20T06:00:00Z'
    assert msg.iso(951782400) == '2000-02-29T00:00:00Z'
    assert ocpp16_time.parse_iso('2026-01-20T06:00:00Z') == 1768888800
    assert ocpp16_time.parse_iso('2026-01-20T07:00:00.123+01:00') == 1768888800
    assert ocpp16_time.parse_iso('garbage') is None
    for t in (0, 86399, 1709251199, 4102444800):
        assert ocpp16_time.parse_iso(msg.iso(t)) == t


def test_boot_accepted_sets_clock_and_reports_status():
    r = Rig()
    r.epoch = 0
    boot = r.boot(interval=120)
    p = boot[3]
    assert p['chargePointVendor'] == 'Frostgrid' and p['chargePointModel'] == 'AC7-sim'
    assert p['chargePointSerialNumber'] == 'FG-0001'
    assert r.now_s() == 1768888800
    assert r.cfg.get('HeartbeatInterval') == 120
    st = r.expect('StatusNotification')[3]
    assert st['status'] == 'Available' and st['errorCode'] == 'NoError' and st['connectorId'] == 1
    assert st['timestamp'] == '2026-01-20T06:00:00Z'


def test_clock_is_not_set_back_by_a_second_or_two():
    r = Rig()
    r.epoch = 0
    r.boot(interval=60)
    r.ack_all()
    t0 = r.now_s()
    r.run(60400)
    now = r.now_s()
    assert now > t0
    # the answer is cut to whole seconds and as old as the round trip: a second behind is noise
    r.reply(r.expect('Heartbeat'), {'currentTime': msg.iso(now - 1)})
    assert r.now_s() == now
    r.run(60400)
    now = r.now_s()
    r.reply(r.expect('Heartbeat'), {'currentTime': msg.iso(now - 2)})
    assert r.now_s() == now
    # a clock 3 s fast is a real error and is set back; forward steps are always taken
    r.run(60400)
    now = r.now_s()
    r.reply(r.expect('Heartbeat'), {'currentTime': msg.iso(now - 3)})
    assert r.now_s() == now - 3
    r.run(60400)
    now = r.now_s()
    r.reply(r.expect('Heartbeat'), {'currentTime': msg.iso(now + 1)})
    assert r.now_s() == now + 1


def test_boot_pending_is_resent_after_interval_and_allows_only_configuration():
    r = Rig()
    r.boot('Pending', interval=10)
    r.run(9000)
    assert r.nothing_sent()
    ans = r.call('GetConfiguration', {'key': ['HeartbeatInterval']})
    assert ans[0] == 3 and ans[2]['configurationKey'][0]['value'] == '300'
    ans = r.call('RemoteStartTransaction', {'idTag': 'CARD1'})
    assert ans[0] == 4
    r.call('TriggerMessage', {'requestedMessage': 'StatusNotification'})
    r.reply(r.expect('StatusNotification'), {})  # a triggered message may go out while Pending
    r.run(1200)
    r.expect('BootNotification')


def test_boot_rejected_sends_nothing_until_interval():
    r = Rig()
    r.boot('Rejected', interval=30)
    r.plug('B')
    r.run(29000)
    assert r.nothing_sent()
    r.core.on_frame('[2,"x","GetConfiguration",{}]', r.ms)
    assert r.sent == []  # a rejected charge point does not answer
    r.run(1200)
    r.expect('BootNotification')


def test_status_notification_on_every_change():
    r = Rig()
    r.boot()
    r.ack_all()
    r.step(cp='B')
    r.step(cp='F')
    r.step(cp='B')
    sts = [c[3] for c in r.ack_all()]
    assert [s['status'] for s in sts] == ['Preparing', 'Faulted', 'Preparing']
    assert sts[1]['errorCode'] == 'OtherError' and sts[1]['info'] == 'EVSE fault'
    r.conn.set_fault('GroundFailure', 'RCD tripped', 'RCD-30mA')
    r.step()
    s = r.expect('StatusNotification')[3]
    assert s['errorCode'] == 'GroundFailure' and s['vendorErrorCode'] == 'RCD-30mA'


def test_unknown_action_gets_not_implemented():
    r = Rig()
    r.boot()
    ans = r.call('MakeCoffee', {})
    assert ans[0] == 4 and ans[2] == 'NotImplemented'
    for action in ('ClearCache Reset', 'Reset |', '|', '', 'reset', 'Reset '):  # no near misses
        ans = r.call(action, {})
        assert ans[0] == 4 and ans[2] == 'NotImplemented', action


def test_malformed_payloads_get_the_right_callerrors():
    r = Rig()
    r.boot()
    assert r.call('RemoteStartTransaction', {})[2] == 'OccurenceConstraintViolation'
    assert r.call('RemoteStartTransaction', {'idTag': 12})[2] == 'TypeConstraintViolation'
    assert r.call('Reset', {'type': 'Gentle'})[2] == 'PropertyConstraintViolation'
    assert r.call('Reset', [1, 2])[2] in ('FormationViolation', 'TypeConstraintViolation')
    assert r.call('GetConfiguration', {'key': [1]})[2] == 'TypeConstraintViolation'
    assert r.call('RemoteStartTransaction', {'idTag': 'X' * 21})[2] == 'PropertyConstraintViolation'


def test_malformed_frames_never_crash():
    r = Rig()
    r.boot()
    r.ack_all()
    for bad in ('', 'nonsense', '[', '{}', '[2]', '[9,"u","x",{}]', '[2,"u",5,{}]', '[3,"nobody",{}]',
                '[4,"nobody","X","y",{}]', '[2,"u","Reset",null]'):
        r.sent = []
        r.core.on_frame(bad, r.ms)
        for m in r.sent:
            assert m[0] == 4
    r.sent = []
    r.core.on_frame('[2,"u9","Reset",5]', r.ms)
    assert r.sent[0][0] == 4 and r.sent[0][1] == 'u9'
    ans = r.call('DataTransfer', {'vendorId': 'cn.frostgrid', 'messageId': 'ping'})
    assert ans[2]['status'] == 'Accepted'


def test_get_configuration_lists_keys_and_read_only_change_refused():
    r = Rig()
    r.boot()
    ans = r.call('GetConfiguration', {'key': ['MeterValueSampleInterval', 'NoSuchKey']})[2]
    assert ans['configurationKey'] == [{'key': 'MeterValueSampleInterval', 'readonly': False, 'value': '60'}]
    assert ans['unknownKey'] == ['NoSuchKey']
    every = r.call('GetConfiguration', {})[2]['configurationKey']
    assert len(every) >= 10 and all(sorted(e) == ['key', 'readonly', 'value'] for e in every)
    ans = r.call('ChangeConfiguration', {'key': 'NumberOfConnectors', 'value': '2'})
    assert ans[2]['status'] == 'Rejected'
    assert r.call('ChangeConfiguration', {'key': 'MeterValueSampleInterval', 'value': '15'})[2]['status'] \
        == 'Accepted'
    assert r.cfg.get('MeterValueSampleInterval') == 15


def test_data_transfer_unknown_vendor_and_own_ping():
    r = Rig()
    r.boot()
    assert r.call('DataTransfer', {'vendorId': 'com.other'})[2] == {'status': 'UnknownVendorId'}
    ans = r.call('DataTransfer', {'vendorId': 'cn.frostgrid', 'messageId': 'ping'})[2]
    assert ans['status'] == 'Accepted'
    assert r.call('DataTransfer', {'vendorId': 'cn.frostgrid', 'messageId': 'x'})[2]['status'] == \
        'UnknownMessageId'


def test_trigger_message_sends_requested_message_after_answer():
    r = Rig()
    r.boot()
    r.ack_all()
    for what in ('Heartbeat', 'StatusNotification', 'MeterValues', 'BootNotification'):
        assert r.call('TriggerMessage', {'requestedMessage': what})[2]['status'] == 'Accepted'
        c = r.expect(what)
        r.reply(c, {'status': 'Accepted', 'currentTime': '2026-01-20T06:00:00Z', 'interval': 300})
        r.ack_all()
        if what == 'MeterValues':
            assert c[3]['meterValue'][0]['sampledValue'][0]['context'] == 'Trigger'
    ans = r.call('TriggerMessage', {'requestedMessage': 'FirmwareStatusNotification'})
    assert ans[2]['status'] == 'NotImplemented'


def test_local_list_versions_and_offline_authorization():
    r = Rig()
    r.boot()
    r.ack_all()
    assert r.call('GetLocalListVersion', {})[2]['listVersion'] == 0
    ans = r.call('SendLocalList', {'listVersion': 3, 'updateType': 'Full',
                                   'localAuthorizationList': [{'idTag': 'LOCAL1',
                                                               'idTagInfo': {'status': 'Accepted'}}]})
    assert ans[2]['status'] == 'Accepted'
    assert r.call('GetLocalListVersion', {})[2]['listVersion'] == 3
    r.disconnect()
    r.plug('C')
    r.tag('STRANGER')  # unknown and AllowOfflineTxForUnknownId is false
    assert not r.conn.tx_active
    r.tag('LOCAL1')
    assert r.conn.tx_active


def test_heartbeat_after_idle_interval():
    r = Rig()
    r.boot(interval=60)
    r.ack_all()
    r.run(59000)
    assert r.calls('Heartbeat') == []
    r.run(1400)
    r.expect('Heartbeat')
