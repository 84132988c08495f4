# OCPP 1.6 device side: the journal backlog report (DataTransfer Frostgrid/Journal, docs/
# interfaces.md §2) after a connection, and its all-clear once the backlog has been replayed;
# fake transport and clock (fake_rig.py) over the real Journal.
import json
import sys

from fake_rig import Rig

JOURNAL_KINDS = ('StartTransaction', 'MeterValues', 'StopTransaction')


def _offline_session(seconds):
    # a session charged offline with a sample every 5 s: S, one M per sample, T in the journal
    r = Rig({'MeterValueSampleInterval': 5, 'AllowOfflineTxForUnknownId': True})
    r.plug('C')
    r.tag('ANY')
    for _ in range(seconds // 5):
        r.energy_wh += 10
        r.run(5000)
    r.tag('ANY')
    return r


def _answer(r, records):
    # the backend answers the station's CALLs in order until `records` journal records are done
    while records:
        c = r.calls()[0]
        r.sent = r.sent[r.sent.index(c) + 1:]
        r.reply(c, {'transactionId': 9, 'idTagInfo': {'status': 'Accepted'}} if c[2] == 'StartTransaction'
                else {'status': 'Accepted'} if c[2] == 'DataTransfer' else {})
        if c[2] in JOURNAL_KINDS:
            records -= 1


def _reports(calls):
    out = []
    for c in calls:
        if c[2] == 'DataTransfer':
            p = c[3]
            assert (p['vendorId'], p['messageId']) == ('Frostgrid', 'Journal'), p
            out.append(json.loads(p['data'])['n'])
    return out


def test_backlog_reported_before_its_replay_and_cleared_after_it():
    r = _offline_session(60)
    n = len(r.kinds())
    assert n >= 10 and r.kinds().startswith('SM') and r.kinds().endswith('T')
    r.boot()
    first = r.calls()[0]
    assert first[2] == 'DataTransfer' and _reports([first]) == [n]  # ahead of the replay
    done = r.ack_all()
    actions = [c[2] for c in done]
    assert _reports(done) == [n, 0]
    last_record = max(i for i in range(len(actions)) if actions[i] in JOURNAL_KINDS)
    assert actions.index('DataTransfer', 1) > last_record  # the all-clear after the replay
    assert actions.count('MeterValues') == n - 2
    assert r.kinds() == ''
    assert r.logged('JOURNAL_REPORT n=%d' % n) and r.logged('JOURNAL_REPORT n=0')
    assert 'journal_report' not in sys.modules  # loaded for each use only
    # the next connection has nothing to report
    r.disconnect()
    r.connect()
    assert _reports(r.ack_all()) == []


def test_short_backlog_is_not_reported():
    r = _offline_session(20)
    assert 0 < len(r.kinds()) < 10
    r.boot()
    done = r.ack_all()
    assert _reports(done) == [] and r.kinds() == ''


def test_link_lost_during_the_replay_reports_what_is_left_on_the_next_connection():
    r = _offline_session(90)
    n = len(r.kinds())
    r.boot()
    assert _reports([r.calls()[0]]) == [n]
    _answer(r, 4)  # four records answered, then the link drops
    r.disconnect()
    left = len([k for k in r.kinds() if k in 'STM'])
    assert left == n - 4
    r.sent = []
    r.connect()  # accepted before: no BootNotification, the report goes first again
    assert _reports([r.calls()[0]]) == [left]
    assert _reports(r.ack_all()) == [left, 0]


def test_backlog_below_the_mark_after_a_report_is_reported_once_to_clear_the_alarm():
    r = _offline_session(60)
    n = len(r.kinds())
    r.boot()
    _answer(r, n - 3)  # all but three records answered
    r.disconnect()
    r.sent = []
    r.connect()
    done = r.ack_all()
    assert _reports(done) == [3]  # below the mark: once, and no all-clear after it
    assert r.kinds() == ''
