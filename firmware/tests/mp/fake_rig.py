# Test rig for ocpp16: the real Journal in the test's temp dir, small stand-ins for Config and
# auth (fake_config.py says why), a fake transport that captures frames, a fake clock (ticks and
# wall clock), a fake meter and control pilot.
import json
import os

# the biggest compiles first, while the heap is emptiest
from journal import Journal
import ocpp16
from connector import Connector
from fake_auth import AuthCache, LocalList
from fake_config import Config

CHATTER = ('StatusNotification', 'Heartbeat')
T0 = 1768888800  # 2026-01-20T06:00:00Z
FILES = ('config.json', 'journal.bin', 'journal.tmp')


def wipe():
    for f in FILES:
        try:
            os.remove(f)
        except OSError:
            pass


class Rig:
    def __init__(self, config=None, journal_bytes=16384, fresh=True):
        if fresh:
            wipe()
            if config:
                with open('config.json', 'w') as f:
                    f.write(json.dumps(config))
        self.journal_bytes = journal_bytes
        self.ms = 0  # ticks
        self.epoch = T0  # wall clock at ms == 0
        self.energy_wh = 0
        self.power_w = 0
        self.cp = 'A'
        self.sent = []  # frames sent, decoded
        self.logs = []
        self.resets = []  # hard flags of reset requests
        self.unlock_result = 'Unlocked'
        self._build()

    def _build(self):
        self.cfg = Config('config.json', log=self._log)
        self.journal = Journal('journal.bin', self.journal_bytes)
        self.journal.open()
        self.local, self.cache = LocalList(), AuthCache()
        self.conn = Connector(1)
        self.core = ocpp16.Ocpp16(
            self.cfg, self.journal, self.local, self.cache, self.conn,
            send=self._send, now_s=self.now_s, meter=self.meter, set_time=self._set_time,
            reset=self.resets.append, unlock=self._unlock, log=self._log,
            info={'vendor': 'Frostgrid', 'model': 'AC7-sim', 'serial': 'FG-0001'})
        self.conn.step(self.cp, self.ms)
        self.core.recover(self.ms)

    def reboot(self):
        # power cut: RAM state gone, the files stay
        self.sent = []
        self.ms += 1000
        self._build()

    # ---- injected I/O ----
    def _send(self, text):
        self.sent.append(json.loads(text))

    def now_s(self):
        return self.epoch + self.ms // 1000

    def meter(self):
        return self.energy_wh, self.power_w

    def _set_time(self, t):
        self.epoch = t - self.ms // 1000

    def _unlock(self):
        return self.unlock_result

    def _log(self, level, msg):
        self.logs.append(msg)

    # ---- driving ----
    def step(self, ms=200, cp=None):
        if cp is not None:
            self.cp = cp
        self.ms += ms
        self.conn.step(self.cp, self.ms)
        self.core.step(self.ms)

    def run(self, ms, dt=200):
        end = self.ms + ms
        while self.ms < end:
            self.step(dt)

    def plug(self, cp='C'):
        self.step(cp=cp)

    def tag(self, tag):
        self.core.present_tag(tag, self.ms)
        self.step()

    def connect(self):
        self.core.connected(self.ms)

    def disconnect(self):
        self.core.disconnected(self.ms)

    def boot(self, status='Accepted', interval=300):
        self.connect()
        c = self.expect('BootNotification')
        self.reply(c, {'status': status, 'currentTime': '2026-01-20T06:00:00Z', 'interval': interval})
        return c

    def calls(self, action=None):
        return [m for m in self.sent if m[0] == 2 and (action is None or m[2] == action)]

    def expect(self, action):
        # the oldest unanswered CALL must be `action` (status and heartbeat chatter before it is
        # answered on the way); returns it and forgets older frames
        for _ in range(20):
            for i in range(len(self.sent)):
                m = self.sent[i]
                if m[0] == 2:
                    self.sent = self.sent[i + 1:]
                    break
            else:
                raise AssertionError('nothing sent, expected ' + action)
            if m[2] == action:
                return m
            assert m[2] in CHATTER, 'expected %s, sent %s' % (action, m[2])
            self.reply(m, {'currentTime': '2026-01-20T06:00:00Z'} if m[2] == 'Heartbeat' else {})
        raise AssertionError('expected ' + action)

    def nothing_sent(self):
        return not self.calls()

    def reply(self, call, payload):
        self.core.on_frame(json.dumps([3, call[1], payload]), self.ms)

    def error(self, call, code='InternalError'):
        self.core.on_frame(json.dumps([4, call[1], code, 'test', {}]), self.ms)

    def call(self, action, payload, uid='cs-1'):
        # a CALL from the backend; returns its answer frame
        self.core.on_frame(json.dumps([2, uid, action, payload]), self.ms)
        for i in range(len(self.sent)):
            m = self.sent[i]
            if m[0] in (3, 4) and m[1] == uid:
                self.sent = self.sent[:i] + self.sent[i + 1:]
                return m
        raise AssertionError('no answer to ' + action)

    def ack_all(self, txid=1000):
        # answer every CALL the station makes until it is quiet; returns the CALLs answered
        done = []
        for _ in range(50):
            cs = self.calls()
            if not cs:
                return done
            c = cs[0]
            self.sent = self.sent[self.sent.index(c) + 1:]
            done.append(c)
            a = c[2]
            if a == 'StartTransaction':
                p = {'transactionId': txid, 'idTagInfo': {'status': 'Accepted'}}
                txid += 1
            elif a == 'Authorize':
                p = {'idTagInfo': {'status': 'Accepted'}}
            elif a == 'Heartbeat':
                p = {'currentTime': '2026-01-20T06:00:00Z'}
            elif a == 'BootNotification':
                p = {'status': 'Accepted', 'currentTime': '2026-01-20T06:00:00Z', 'interval': 300}
            else:
                p = {}
            self.reply(c, p)
        raise AssertionError('station never quiet')

    def kinds(self):
        return ''.join(k for _, k, _ in self.journal.records())

    def logged(self, prefix):
        return [m for m in self.logs if m.startswith(prefix)]


def session(r, tag='CARD1'):
    # an accepted boot, a card, the EV requesting charge: returns the StartTransaction CALL
    r.boot()
    r.ack_all()
    r.plug('C')
    r.tag(tag)
    a = r.expect('Authorize')
    r.reply(a, {'idTagInfo': {'status': 'Accepted'}})
    r.step()
    return r.expect('StartTransaction')


def values(mv, measurand):
    # the values of one measurand in a meterValue
    return [int(s['value']) for s in mv['sampledValue'] if s['measurand'] == measurand]
