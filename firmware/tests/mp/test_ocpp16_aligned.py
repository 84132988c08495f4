# OCPP 1.6 device side, metering: clock-aligned MeterValues (ClockAlignedDataInterval,
# MeterValuesAlignedData, StopTxnAlignedData) and per-phase Voltage / Current.Import from a
# Modbus meter, driven with a fake transport and a fake clock (fake_rig.py) over the real Journal.
import json

from fake_rig import Rig, session, values

E_REG = 'Energy.Active.Import.Register'
E_INT = 'Energy.Active.Import.Interval'


def _rig(interval, aligned=E_REG, stop_aligned='', **config):
    r = Rig(config or None)
    keys = r.cfg.keys  # the fake Config knows the keys it lists; these are the real ones' names
    keys['ClockAlignedDataInterval'] = [interval, 0]
    keys['MeterValuesAlignedData'] = [aligned, 0]
    keys['StopTxnAlignedData'] = [stop_aligned, 0]
    return r


def _meter_values(calls):
    return [c[3] for c in calls if c[2] == 'MeterValues']


def _run(r, ms, got):
    # the backend answers at once: every CALL made meanwhile goes to `got`
    end = r.ms + ms
    while r.ms < end:
        r.step()
        got.extend(r.ack_all())
    return got


def _clock(mvs):
    # the MeterValues payloads whose values are all clock-aligned
    return [p for p in mvs if all(s['context'] == 'Sample.Clock' for s in p['meterValue'][0]['sampledValue'])]


class _Meter:
    # the readings of meter.Meter the core uses (a Modbus meter)
    def __init__(self, phases):
        self.energy_import_wh = 5000
        self.energy_export_wh = 7
        self.voltage_v = [230.04, 231.26, 229.91][:phases]
        self.current_a = [10.0, 10.5, 9.873][:phases]


def test_clock_aligned_values_at_each_boundary_on_connector_0_without_a_transaction():
    r = _rig(60, E_REG + ',' + E_INT)
    r.energy_wh = 100
    r.boot()  # the clock: 06:00:00Z
    r.ack_all()
    got = _run(r, 1000, [])
    r.energy_wh = 150
    _run(r, 59000, got)  # past 06:01:00
    r.energy_wh = 175
    _run(r, 60000, got)  # past 06:02:00
    mvs = _meter_values(got)
    assert len(mvs) == 2, mvs
    for p in mvs:
        assert p['connectorId'] == 0 and 'transactionId' not in p
    assert [p['meterValue'][0]['timestamp'] for p in mvs] == ['2026-01-20T06:01:00Z', '2026-01-20T06:02:00Z']
    first, second = [p['meterValue'][0] for p in mvs]
    assert [s['context'] for s in first['sampledValue']] == ['Sample.Clock', 'Sample.Clock']
    assert values(first, E_REG) == [150] and values(first, E_INT) == [50]
    assert values(second, E_REG) == [175] and values(second, E_INT) == [25]
    assert r.kinds() == ''


def test_no_clock_aligned_values_when_the_interval_is_zero():
    r = _rig(0)
    r.boot()
    r.ack_all()
    assert _meter_values(_run(r, 180000, [])) == []


def test_boundaries_count_from_midnight_and_follow_a_changed_interval():
    r = _rig(900)
    r.boot(interval=86400)  # 06:00:00Z (the rig's Heartbeat answers would set it back)
    r.ack_all()
    got = _run(r, 1900000, [])  # 06:31:40: boundaries 06:15, 06:30
    stamps = [p['meterValue'][0]['timestamp'] for p in _meter_values(got)]
    assert stamps == ['2026-01-20T06:15:00Z', '2026-01-20T06:30:00Z']
    r.cfg.keys['ClockAlignedDataInterval'][0] = 7  # does not divide a day: the grid restarts at midnight
    got = _run(r, 15000, [])  # 06:31:55
    stamps = [p['meterValue'][0]['timestamp'] for p in _meter_values(got)]
    # 06:31:40 is 23500 s after midnight; 7-s boundaries at 23506 (3358 x 7), 23513, 23520
    assert stamps == ['2026-01-20T06:31:46Z', '2026-01-20T06:31:53Z'], stamps


def test_clock_set_forward_does_not_make_up_missed_boundaries():
    r = _rig(60)
    r.boot()
    r.ack_all()
    r.run(30000)  # 06:00:30, next boundary 06:01:00
    hb = r.call('TriggerMessage', {'requestedMessage': 'Heartbeat'})
    assert hb[2]['status'] == 'Accepted'
    r.reply(r.expect('Heartbeat'), {'currentTime': '2026-01-20T09:00:30Z'})
    got = _run(r, 40000, [])  # 09:01:10
    stamps = [p['meterValue'][0]['timestamp'] for p in _meter_values(got)]
    assert stamps == ['2026-01-20T09:01:00Z'], stamps


def test_clock_aligned_values_of_a_running_transaction_carry_its_id_and_go_in_the_stop():
    r = _rig(60, E_REG, E_REG + ',' + E_INT, MeterValueSampleInterval=0)
    r.energy_wh = 1000
    start = session(r)  # 06:00:0x
    r.reply(start, {'transactionId': 88, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    got = []
    for wh in (1100, 1250, 1300):
        r.energy_wh = wh
        _run(r, 60000, got)
    mvs = _clock(_meter_values(got))
    assert len(mvs) == 3
    for p in mvs:
        assert p['connectorId'] == 1 and p['transactionId'] == 88
    assert [values(p['meterValue'][0], E_REG)[0] for p in mvs] == [1100, 1250, 1300]
    r.energy_wh = 1320
    r.tag('CARD1')
    stop = r.expect('StopTransaction')[3]
    td = stop['transactionData']
    assert [m['sampledValue'][0]['context'] for m in td] == (
        ['Transaction.Begin', 'Sample.Clock', 'Sample.Clock', 'Sample.Clock', 'Transaction.End'])
    clock = td[1:4]
    assert [m['timestamp'] for m in clock] == [
        '2026-01-20T06:01:00Z', '2026-01-20T06:02:00Z', '2026-01-20T06:03:00Z']
    assert [values(m, E_REG)[0] for m in clock] == [1100, 1250, 1300]
    assert [values(m, E_INT)[0] for m in clock] == [100, 150, 50]  # the first from the start
    assert values(td[-1], E_REG) == [1320]


def test_stop_without_stop_txn_aligned_data_has_begin_and_end_only():
    r = _rig(60, E_REG, '', MeterValueSampleInterval=0)
    start = session(r)
    r.reply(start, {'transactionId': 3, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    assert len(_clock(_meter_values(_run(r, 130000, [])))) == 2
    r.tag('CARD1')
    td = r.expect('StopTransaction')[3]['transactionData']
    assert [m['sampledValue'][0]['context'] for m in td] == ['Transaction.Begin', 'Transaction.End']


def test_clock_aligned_values_taken_offline_survive_a_reboot_and_are_sent_after_boot():
    r = _rig(60)
    r.energy_wh = 40
    r.run(125000)  # never connected: 06:02:05 by the board's clock
    assert r.kinds() == 'MM'
    r.reboot()
    assert r.kinds() == 'MM'  # readings outside a transaction are not orphans
    r.boot()
    mvs = _meter_values(r.ack_all())
    stamps = [p['meterValue'][0]['timestamp'] for p in mvs]
    assert stamps[:2] == ['2026-01-20T06:01:00Z', '2026-01-20T06:02:00Z']
    assert all(p['connectorId'] == 0 and 'transactionId' not in p for p in mvs)
    assert r.kinds() == ''


def test_transaction_samples_give_one_value_per_phase_of_a_three_phase_meter():
    r = Rig({'MeterValueSampleInterval': 10,
             'MeterValuesSampledData': E_REG + ',Voltage,Current.Import'})
    r.core.mtr = _Meter(3)
    start = session(r)
    r.reply(start, {'transactionId': 5, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    mv = _meter_values(_run(r, 10000, []))[0]
    sv = mv['meterValue'][0]['sampledValue']
    got = [(s['measurand'], s.get('phase'), s['value'], s['unit']) for s in sv]
    assert got[1:] == [
        ('Voltage', 'L1-N', '230.0', 'V'), ('Voltage', 'L2-N', '231.3', 'V'),
        ('Voltage', 'L3-N', '229.9', 'V'),
        ('Current.Import', 'L1', '10.00', 'A'), ('Current.Import', 'L2', '10.50', 'A'),
        ('Current.Import', 'L3', '9.87', 'A')], got
    assert all(s['context'] == 'Sample.Periodic' for s in sv)
    # the stop's begin and end values are energy only
    r.tag('CARD1')
    td = r.expect('StopTransaction')[3]['transactionData']
    assert [s['measurand'] for m in td for s in m['sampledValue']] == [E_REG, E_REG]


def test_single_phase_meter_gives_l1_and_the_board_meter_gives_no_phase_values():
    from ocpp16_mv import sampled
    sv = json.loads(sampled('Sample.Clock', 10, 2000, 'Voltage,Current.Import', 0, None, _Meter(1)))
    assert [(s['measurand'], s['phase']) for s in sv] == [('Voltage', 'L1-N'), ('Current.Import', 'L1')]
    # no Modbus meter (the board's meter has no voltage or current): the register instead of nothing
    sv = json.loads(sampled('Sample.Periodic', 10, 2000, 'Voltage,Current.Import', 0, None, None))
    assert [s['measurand'] for s in sv] == [E_REG]
    # a Modbus meter without a first good reading yet: no phase values
    m = _Meter(3)
    m.energy_import_wh = None
    sv = json.loads(sampled('Sample.Periodic', 10, 2000, E_REG + ',Voltage', 0, None, m))
    assert [s['measurand'] for s in sv] == [E_REG]


def test_trigger_message_meter_values_carry_the_phases_too():
    r = Rig({'MeterValuesSampledData': 'Voltage'})
    r.core.mtr = _Meter(3)
    r.boot()
    r.ack_all()
    assert r.call('TriggerMessage', {'requestedMessage': 'MeterValues'})[2]['status'] == 'Accepted'
    sv = r.expect('MeterValues')[3]['meterValue'][0]['sampledValue']
    assert [(s['phase'], s['context']) for s in sv] == [
        ('L1-N', 'Trigger'), ('L2-N', 'Trigger'), ('L3-N', 'Trigger')]
