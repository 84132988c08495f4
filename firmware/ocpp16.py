# OCPP 1.6J device side (Core, Local Auth List Management, Remote Trigger). Only these modules
# know message names:
#   ocpp16       the state and the entry points app calls (this file)
#   ocpp16_out   the one outstanding CALL: what to send next, timeouts, retries
#   ocpp16_in    frames from the backend: answers to our CALLs, CALLs to answer
#   ocpp16_calls the CALLs from the backend                         (loaded for each, lazy.py)
#   ocpp16_tx    transaction start and stop                         (loaded for each event)
#   ocpp16_auth  authorization                                      (loaded for each event)
#   ocpp16_msg   payload text, ISO 8601 time
#   ocpp16_mv    meter values: periodic                             (loaded for each sample)
#   ocpp16_clock clock-aligned meter values                         (loaded for each sample)
#   ocpp16_sv    sampledValue arrays (+ ocpp16_ph: per-phase values of a Modbus meter), imported
#                by the modules above and by ocpp16_tx for the Stop
#   ocpp16_boot  journal recovery at boot, BootNotification answers  (loaded for each)
# Pure logic: time comes in as `now_ms` (ticks) and all I/O goes through the callables given to
# Ocpp16, so tests drive it with a fake transport and a fake clock. (Split in small modules so
# that each compiles within the heap of an ESP32 without PSRAM; what runs only on an event is
# loaded for it, so that its code is not in RAM all the time.)
#
# Nothing the backend must know is lost. StartTransaction (S), StopTransaction (T) and the
# transaction's MeterValues (M, droppable) are appended to the journal before they are sent and
# removed only on their CALLRESULT (clock-aligned readings outside a transaction are M records
# of ltx 0, sent without transactionId); they go oldest-first, before any other message, one CALL at a
# time. A transaction has a local id `ltx`. When the Start is answered, a B record binds ltx to
# the backend's transactionId, appended *before* the S record is removed; T and M records get
# that id substituted when they are sent. When the Stop is answered the B record is removed
# *before* the T record. A failed or unanswered transaction message is retried
# (TransactionMessageAttempts / RetryInterval) and then kept for the next connection.
from micropython import const
from time import ticks_diff

import ocpp16_msg as msg
import ocpp16_out
import ocpp16_in
import lazy
import rpc


# core.boot: the BootNotification's answer (the same numbers in ocpp16_out, _in and _calls)
_B_NONE = const(0)  # not answered yet
_B_ACCEPTED = const(3)  # 1 Pending, 2 Rejected
_CALL_TIMEOUT_MS = const(30000)
_QUEUE_MAX = const(8)  # non-journal messages kept in RAM
_REPLY_GRACE_MS = const(500)  # lets the Reset CALLRESULT reach the socket before a reboot
_SOFT_RESET_WAIT_MS = const(10000)  # a soft reset waits this long at most for the Stop's answer


class Ocpp16:
    def __init__(self, config, journal, local, cache, connector, send, now_s, meter,
                 set_time=None, reset=None, unlock=None, log=None, ids=None, info=None):
        self.cfg = config
        self.journal = journal
        self.local = local
        self.cache = cache
        self.conn = connector
        self.send = send  # (text): hands one frame to the link
        self.now_s = now_s  # () -> wall clock, Unix seconds
        self.meter = meter  # () -> (energy_wh, power_w)
        self.set_time = set_time  # (epoch_s) or None
        self.reset = reset  # (hard); does not return on a real board
        self.unlock = unlock  # () -> 'Unlocked' | 'UnlockFailed' | 'NotSupported', or None
        self._log = log  # (level, text) or None
        self.ids = ids if ids is not None else rpc.IdGen()
        self.info = info or {}  # vendor, model, serial
        self.call_timeout_ms = _CALL_TIMEOUT_MS

        self.online = False  # the WebSocket is open
        self.boot = _B_NONE
        self.boot_at = 0  # ticks when the next BootNotification is due
        self.boot_trig = False  # TriggerMessage asked for a BootNotification
        self.stale = False  # repeated CALL timeouts: the link should be dropped
        self.hold = False  # a backend CALL is being handled: its answer goes first

        self.pending = rpc.Pending()  # the one outstanding CALL
        self.p_seq = -1  # journal seq of the record being sent, -1 for RAM messages
        self.p_ltx = 0
        self.timeouts = 0  # consecutive CALL timeouts
        self.queue = []  # RAM messages: [action, payload text, triggered]
        self.last_call_ms = 0  # for Heartbeat

        self.j_work = True  # the journal may hold records to send
        self.j_blocked = False  # attempts exhausted: wait for the next connection
        self.j_attempts = 0
        self.j_retry_at = None  # None = no retry delay running, else ticks
        self.j_high = False  # a journal backlog was reported (journal_report.py)
        self.bind = {}  # ltx -> [transactionId, seq of its B record]
        self.next_ltx = 1

        self.tx_ltx = 0  # the connector's transaction; 0 = none
        self.tx_tag = None
        self.tx_meter_start = 0
        self.tx_start_ts = None
        self.sample_at = 0  # ticks of the next periodic sample
        self.mv_s = 0  # wall clock s of the last one: one sample a second at most (ocpp16_mv)
        self.aligned_at = 0  # wall clock s of the next clock-aligned sample (ocpp16_mv)
        self.last_wh = 0  # energy register at the last sample (Energy.Active.Import.Interval)

        self.auth_tag = None  # idTag authorized for the next transaction
        self.auth_wait = None  # idTag waiting for an Authorize answer
        self.last_status = None
        self.last_error = None
        self.reset_req = 0  # 0 = none, 1 = soft, 2 = hard
        self.reset_at = 0  # ticks of the Reset request

    # ---- entry points -----------------------------------------------------------------------
    def recover(self, now_ms):
        # once at boot, after the board's first reading; returns the live journal record count
        if self.cfg_get('Operative') is False:
            self.conn.available = False
        return lazy.call('ocpp16_boot', 'recover', self, now_ms)  # runs once: loaded for it

    def connected(self, now_ms):
        # the link is up / down: once a connection each (ocpp16_boot.py, loaded for it)
        lazy.call('ocpp16_boot', 'connected', self, now_ms)

    def disconnected(self, now_ms):
        lazy.call('ocpp16_boot', 'disconnected', self, now_ms)

    def on_frame(self, text, now_ms):
        # one text frame from the backend; never raises
        ocpp16_in.frame(self, text, now_ms)
        ocpp16_out.pump(self, now_ms)

    def present_tag(self, tag, now_ms):
        # an RFID card at the reader: ends the session it started, or asks to start one
        # (ocpp16_auth.py, loaded for it)
        self.auth('present_tag', tag, now_ms)
        ocpp16_out.pump(self, now_ms)

    def step(self, now_ms):
        # every ~200 ms, after the connector has seen the control pilot
        c = self.conn
        ct = self.cfg_get('ConnectionTimeOut')
        if ct:
            c.connection_timeout_ms = ct * 1000
        if self.tx_ltx:
            if c.cp == 'A' and self.cfg_get('StopTransactionOnEVSideDisconnect') is not False:
                self.tx('stop', 'EVDisconnected', None, now_ms)
            elif ticks_diff(now_ms, self.sample_at) >= 0 and self.cfg_get('MeterValueSampleInterval'):
                self.mv('periodic', now_ms)  # a periodic sample is due
        elif c.may_start() and not self.reset_req:
            self.tx('start', now_ms)
        iv = self.cfg_get('ClockAlignedDataInterval')
        if iv and not 0 < self.aligned_at - self.now_s() <= iv:
            self.mv('aligned', iv)  # a clock-aligned boundary has come (or is to be planned)
        st, err = c.status(), c.error_code()
        if st != self.last_status or err != self.last_error:
            self.last_status, self.last_error = st, err
            self.log('STATUS %s %s' % (st, err))
            if self.accepted():
                self.enqueue('StatusNotification', msg.status(c, self.ts()))
        ocpp16_out.tick(self, now_ms)
        if self.reset_req:
            waited = ticks_diff(now_ms, self.reset_at)
            # a soft reset lets the journal (the Stop) drain first
            if waited >= _REPLY_GRACE_MS and not (
                    self.reset_req == 1 and waited < _SOFT_RESET_WAIT_MS and self.accepted()
                    and not self.j_blocked and (self.j_work or self.p_seq >= 0)):
                hard = self.reset_req == 2
                self.reset_req = 0
                if self.reset is not None:
                    self.reset(hard)
        ocpp16_out.pump(self, now_ms)

    # ---- helpers for the ocpp16_* modules ---------------------------------------------------
    def tx(self, fn, *args):
        # ocpp16_tx.<fn>(self, *args): transaction events, loaded for each
        return lazy.call('ocpp16_tx', fn, self, *args)

    def mv(self, fn, arg):
        # ocpp16_mv.<fn>(self, arg) (ocpp16_clock.aligned): meter values, loaded for each sample;
        # a sample is not worth the control step (no heap now)
        try:
            lazy.call('ocpp16_clock' if fn == 'aligned' else 'ocpp16_mv', fn, self, arg)
        except Exception as e:
            self.log('MV %r' % e, 'WARN')

    def auth(self, fn, *args):
        # ocpp16_auth.<fn>(self, *args): authorization events, loaded for each
        return lazy.call('ocpp16_auth', fn, self, *args)

    def remember(self, tag, info):
        # idTagInfo from the backend goes to the authorization cache
        if tag and type(info) is dict and self.cfg_get('AuthorizationCacheEnabled'):
            try:
                self.cache.put(tag, info)
            except Exception as e:
                self.log('CACHE %r' % e, 'WARN')

    def log(self, text, level='INFO'):
        if self._log is not None:
            self._log(level, text)

    def cfg_get(self, key):
        try:
            return self.cfg.get(key)
        except Exception:  # a key this Config does not define
            return None

    def ts(self):
        return msg.iso(self.now_s())

    def accepted(self):
        # online and registered: messages other than BootNotification may go out
        return self.online and self.boot == _B_ACCEPTED

    def enqueue(self, action, payload, trig=False):
        if len(self.queue) >= _QUEUE_MAX:
            self.queue.pop(0)
        self.queue.append([action, payload, trig])

    def drop_queued(self, action):
        self.queue = [m for m in self.queue if m[0] != action]

    def append(self, kind, data, droppable=False):
        try:
            seq = self.journal.append(kind, data, droppable)
        except Exception as e:  # JournalFull, flash error
            self.log('JOURNAL_FULL kind=%s %r' % (kind, e), 'WARN')
            return -1
        self.j_work = True
        return seq

    def tx_id(self):
        # the backend's transactionId of the running transaction; None until the Start is answered
        b = self.bind.get(self.tx_ltx)
        return None if b is None else b[0]

    def save_availability(self):
        # ChangeAvailability survives a reboot: internal config key 'Operative' (bool)
        try:
            self.cfg.set('Operative', self.conn.available)
        except Exception as e:
            self.log('CONFIG Operative not saved %r' % e, 'WARN')
