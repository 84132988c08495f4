# OCPP 1.6 device side: the journal (nothing lost offline, across retries and power cuts),
# driven with a fake transport and a fake clock (fake_rig.py) over the real Journal.
from fake_rig import Rig, session, values


def test_stop_sent_offline_gets_backend_transaction_id():
    r = Rig({'LocalAuthorizeOffline': True})
    r.local.update(1, [{'idTag': 'CARD1', 'idTagInfo': {'status': 'Accepted'}}], True)
    r.energy_wh = 500
    r.plug('C')
    r.tag('CARD1')  # never connected: offline start from the local list
    assert r.conn.tx_active and r.conn.want_contactor()
    r.energy_wh = 1500
    r.tag('CARD1')
    assert r.kinds() == 'ST'
    r.boot()
    start = r.expect('StartTransaction')
    assert r.calls('StopTransaction') == []  # the Stop waits for the Start's answer
    r.reply(start, {'transactionId': 4242, 'idTagInfo': {'status': 'Accepted'}})
    stop = r.expect('StopTransaction')[3]
    assert stop['transactionId'] == 4242 and stop['meterStop'] == 1500
    assert sorted(r.kinds()) == ['B', 'T']  # the bind outlives the Start until the Stop is answered


def test_journal_replays_oldest_first_before_other_messages():
    r = Rig({'MeterValueSampleInterval': 5, 'AllowOfflineTxForUnknownId': True})
    r.plug('C')
    r.tag('ANY')
    for _ in range(3):
        r.energy_wh += 100
        r.run(5000)
    r.tag('ANY')
    assert r.kinds() == 'SMMMT'
    r.boot()
    order = [c[2] for c in r.ack_all()]
    j = [a for a in order if a in ('StartTransaction', 'MeterValues', 'StopTransaction')]
    assert j == ['StartTransaction', 'MeterValues', 'MeterValues', 'MeterValues', 'StopTransaction']
    assert order.index('StopTransaction') < order.index('StatusNotification')
    assert r.kinds() == ''


def test_transaction_message_retried_after_callerror_and_kept_after_attempts():
    r = Rig({'TransactionMessageAttempts': 2, 'TransactionMessageRetryInterval': 5,
             'AllowOfflineTxForUnknownId': True})
    r.plug('C')
    r.tag('ANY')
    r.boot()
    r.error(r.expect('StartTransaction'))
    r.run(4000)
    assert r.calls('StartTransaction') == []
    r.run(1200)
    r.error(r.expect('StartTransaction'))
    r.run(60000)
    assert r.calls('StartTransaction') == []  # attempts exhausted
    assert 'S' in r.kinds()  # never silently dropped
    r.disconnect()
    r.connect()
    r.expect('StartTransaction')


def test_call_timeout_retries_and_marks_link_stale():
    r = Rig({'AllowOfflineTxForUnknownId': True, 'TransactionMessageRetryInterval': 1})
    r.plug('C')
    r.tag('ANY')
    r.boot()  # then the backend goes silent
    r.run(31000)
    assert len(r.logged('TIMEOUT')) == 1 and not r.core.stale
    r.run(32000)
    assert len(r.logged('TIMEOUT')) == 2 and r.core.stale
    assert len(r.calls('StartTransaction')) == 2  # resent after the retry interval


def test_journal_full_refuses_new_offline_transaction():
    r = Rig({'AllowOfflineTxForUnknownId': True}, journal_bytes=1400)
    n = 0
    for i in range(10):
        r.plug('C')
        r.tag('T%d' % i)
        if not r.conn.tx_active:
            break
        n += 1
        r.step(cp='A')
    assert 1 <= n < 10
    assert r.logged('TX_REFUSED')
    assert not r.conn.want_contactor()
    assert r.kinds() == 'ST' * n  # every stored transaction is complete


def test_power_loss_mid_transaction_reports_stop_power_loss_after_reboot():
    r = Rig()
    r.energy_wh = 100
    s = session(r)
    r.reply(s, {'transactionId': 31, 'idTagInfo': {'status': 'Accepted'}})
    r.ack_all()
    r.energy_wh = 900
    r.reboot()
    assert r.kinds() == 'BT'
    r.boot()
    stop = r.expect('StopTransaction')[3]
    assert stop['transactionId'] == 31 and stop['reason'] == 'PowerLoss' and stop['meterStop'] == 900
    assert values(stop['transactionData'][0], 'Energy.Active.Import.Register') == [100]


def test_cut_between_bind_and_start_removal_does_not_resend_start():
    r = Rig({'AllowOfflineTxForUnknownId': True})
    r.plug('C')
    r.tag('ANY')
    r.tag('ANY')
    # what a cut right after the B record leaves behind: S, T and B
    seq_s = r.journal.first('S')[0]
    r.journal.append('B', '1 55 0 2026-01-20T06:00:00Z')
    assert r.journal.first('S')[0] == seq_s
    r.reboot()
    r.boot()
    stop = r.expect('StopTransaction')[3]
    assert stop['transactionId'] == 55
    assert r.calls('StartTransaction') == []
