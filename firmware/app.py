# Wiring: the only module that knows every task. Reads station.json, builds the board, config,
# journal, authorization stores, connector and the OCPP client, and runs the asyncio tasks:
#   control  every ~200 ms: board poll -> connector step -> OCPP step -> contactor/lock, watchdog
#   link     connect, receive frames, reconnect with jittered back-off (stale links: ws pings and
#            unanswered CALLs)
#   sender   writes the frames the OCPP core hands out, in order
# A Reset from the backend ends here: log, close the link, board.reset() (exit code 3 on the sim
# board, machine.reset() on an ESP32). Log lines a test harness reads (log.log -> stdout):
#   BOOT, JOURNAL n=, CONNECTED, DISCONNECTED, RESET soft|hard (+ TX_*/STATUS/... from ocpp16)
import asyncio
import json
from micropython import const
from time import ticks_diff, ticks_ms

# biggest compiles first, while the heap is emptiest (matters when running from .py sources)
from journal import Journal
from ocpp16 import Ocpp16
from auth import AuthCache, LocalList
from config import Config
from ws import Backoff, WsClient
from connector import Connector
from board import make_board
from log import log

_STEP_MS = const(200)
_FIRST_READING_TRIES = const(15)  # ~3 s for the sim board's plant link at boot


def _count(journal):
    n = 0
    for _ in journal.records():
        n += 1
    return n


class App:
    def __init__(self, station):
        self.station = station
        self.outbox = []  # frames from the OCPP core waiting for the sender
        self.wake = asyncio.Event()  # the outbox has frames
        self.reset_ev = asyncio.Event()
        self.reset_hard = False
        self.ws = None
        self.core = None

    async def run(self):
        st = self.station
        log('INFO', 'BOOT id=%s' % st['id'])
        # the link's frame buffer is the biggest block: take it while the heap is unfragmented
        self.ws = WsClient(st['url'] + '/' + st['id'], st['id'], st['password'], 'ocpp1.6',
                           st.get('max_frame', 16384))
        cfg = Config('config.json', log=log)
        board = self.board = make_board(st, cfg)
        await board.start()
        j = Journal('journal.bin', st.get('journal_bytes', 16384), crash=st.get('test_crash'))
        j.open()
        local = LocalList('auth.json', cfg.get('LocalAuthListMaxLength'), cfg.get('SendLocalListMaxLength'),
                          log=log)
        cache = AuthCache('authcache.json', cfg.get('AuthorizationCacheMaxEntries'), log=log)
        conn = self.conn = Connector(1)
        self.ws.set_ping(cfg.get('WebSocketPingInterval') * 1000)
        self.core = Ocpp16(cfg, j, local, cache, conn, self._send, board.now_s, board.meter,
                           set_time=board.set_time, reset=self._reset, unlock=self._unlock, log=log,
                           info=st)
        # the first reading decides what a transaction cut by a power loss was billed up to
        for _ in range(_FIRST_READING_TRIES):
            await board.poll()
            if getattr(board, 'linked', True):
                break
            await asyncio.sleep_ms(_STEP_MS)
        now = ticks_ms()
        conn.step(board.cp_state(), now)
        log('INFO', 'JOURNAL n=%d' % self.core.recover(now))
        asyncio.create_task(self._control())
        asyncio.create_task(self._sender())
        asyncio.create_task(self._link())
        await self.reset_ev.wait()
        log('INFO', 'RESET %s' % ('hard' if self.reset_hard else 'soft'))
        board.set_contactor(False)
        try:
            await asyncio.wait_for_ms(self.ws.close(), 3000)
        except Exception:
            pass
        board.reset(self.reset_hard)

    # ---- callables handed to the OCPP core ----------------------------------------------------
    def _send(self, text):
        self.outbox.append(text)
        self.wake.set()

    def _reset(self, hard):
        self.reset_hard = hard
        self.reset_ev.set()

    def _unlock(self):
        self.board.set_lock(False)
        return 'Unlocked'

    # ---- tasks --------------------------------------------------------------------------------
    async def _control(self):
        board, conn, core = self.board, self.conn, self.core
        while True:
            t0 = ticks_ms()
            try:
                await board.poll()
                now = ticks_ms()
                conn.step(board.cp_state(), now)
                if board.contactor() and not conn.want_contactor():
                    board.set_contactor(False)  # open at once, before anything is reported
                    await board.poll()
                tag = board.take_id_tag()
                if tag:
                    core.present_tag(tag, now)
                core.step(now)
                board.set_contactor(conn.want_contactor())
                board.set_lock(conn.want_lock())
                if core.stale and self.ws.connected:
                    core.stale = False
                    log('WARN', 'LINK_STALE')
                    asyncio.create_task(self.ws.close(1001))
            except Exception as e:  # keep the charger controlled whatever one step did
                board.set_contactor(False)
                log('ERROR', 'CONTROL %r' % e)
            board.feed_wdt()
            wait = _STEP_MS - ticks_diff(ticks_ms(), t0)
            await asyncio.sleep_ms(wait if wait > 10 else 10)

    async def _sender(self):
        ws = self.ws
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox:
                text = self.outbox.pop(0)
                if not ws.connected:
                    self.outbox.clear()
                    break
                try:
                    await ws.send_text(text)
                except Exception as e:  # the link task sees the drop and reconnects
                    log('WARN', 'SEND_FAILED %r' % e)
                    self.outbox.clear()
                    break

    async def _link(self):
        ws, core = self.ws, self.core
        backoff = Backoff(1000, 60000)
        while True:
            try:
                await ws.connect()
            except Exception as e:
                log('WARN', 'CONNECT_FAILED %s' % e)
                await asyncio.sleep_ms(backoff.next_ms())
                continue
            backoff.reset()
            log('INFO', 'CONNECTED')
            core.connected(ticks_ms())
            log('INFO', 'JOURNAL n=%d' % _count(core.journal))
            while True:
                try:
                    text = await ws.recv_text()
                except Exception as e:  # protocol error: the client already closed the link
                    log('WARN', 'RECV_FAILED %r' % e)
                    text = None
                if text is None:
                    break
                core.on_frame(text, ticks_ms())
            log('INFO', 'DISCONNECTED %s' % ws.error)
            self.outbox.clear()
            core.disconnected(ticks_ms())
            await asyncio.sleep_ms(backoff.next_ms())


def main():
    with open('station.json') as f:
        station = json.load(f)
    asyncio.run(App(station).run())
