# Wiring: the only module that knows every task. Reads station.json, builds the board, config,
# journal, authorization stores, connector and the OCPP client, and runs the asyncio tasks:
#   control  every ~200 ms: board poll -> connector step -> OCPP step -> contactor/lock, watchdog
#   link     connect, receive frames, reconnect with jittered back-off (stale links: ws pings and
#            unanswered CALLs)
#   sender   writes the frames the OCPP core hands out, in order (started when there are some)
# A Reset from the backend ends here: log, save what the thermal controller learned (a cold
# station), close the link, board.reset() (exit code 3 on the sim board, machine.reset() on an
# ESP32). Log lines a test harness reads (log.log -> stdout):
#   BOOT, JOURNAL n= dropped=, CONNECTED, DISCONNECTED, RESET soft|hard (+ TX_*/STATUS/... from
#   ocpp16; THERMAL_LEARNED ok|none|corrupt|other zones at boot and LEARNED saved from the cold
#   wiring); with station.json heap_report_ms: HEAP_BASE <bytes> after the imports, then HEAP
#   <bytes> every heap_report_ms (app_heap.py)
import asyncio
import gc
import json
from micropython import const
from time import ticks_diff, ticks_ms

# Collect every few kB allocated rather than only when the heap is full: garbage then never
# spreads the live objects over the whole heap, so the big blocks (the link's frame buffer, the
# code of a module loaded on demand) still find room in a heap of ~100 kB. Set before the
# firmware's modules load.
gc.threshold(4096)

# every module of the firmware loads with app, biggest compiles first while the heap is emptiest
# (matters when running from .py sources); app_boot.py builds the objects from them at boot
import journal  # noqa: E402, F401
import ocpp16  # noqa: E402, F401
import auth  # noqa: E402, F401
import config  # noqa: E402, F401
from ws import Backoff  # noqa: E402
import connector  # noqa: E402, F401
from board import make_board  # noqa: E402, F401
import lazy  # noqa: E402
import power  # noqa: E402, F401
from log import log  # noqa: E402

_STEP_MS = const(200)


class App:
    def __init__(self, station):
        self.station = station
        self.outbox = []  # frames from the OCPP core waiting for the sender
        self.sending = False  # a sender task is running (started by send, ends when the outbox is empty)
        self.resetting = False
        self.ws = None
        self.core = None
        self.ext = None  # cold-region wiring (app_cold.Cold) when station.json configures it
        self.cold = False  # the cold-start interlock forbids current (thermal)

    async def run(self):
        every = self.station.get('heap_report_ms')
        if every:  # the test rig and the memory benchmark watch the heap (app_heap.py)
            asyncio.create_task(lazy.call('app_heap', 'start', every))
        # boot: build the board, stores, connector and OCPP core from station.json; that code
        # runs once, so it is loaded for it (app_boot.py, lazy.py)
        # (the setpoint executor, core.power, is built there too)
        await lazy.call('app_boot', 'setup', self)
        self.station = None  # what the firmware keeps of it is in the objects built
        asyncio.create_task(self._control())
        await self._link()  # runs until a reset ends the process

    # ---- callables handed to the OCPP core ----------------------------------------------------
    def send(self, text):
        self.outbox.append(text)
        if not self.sending:
            self.sending = True
            asyncio.create_task(self._sender())

    def reset(self, hard):
        if not self.resetting:
            self.resetting = True
            asyncio.create_task(lazy.call('app_boot', 'restart', self, hard))

    def unlock(self):
        self.board.set_lock(False)
        return 'Unlocked'

    # ---- tasks --------------------------------------------------------------------------------
    async def _control(self):
        board, conn, core = self.board, self.conn, self.core
        limit = getattr(board, 'set_limit', None)  # boards that can bound the EV's power
        while True:
            t0 = ticks_ms()
            try:
                await board.poll()
                now = ticks_ms()
                conn.step(board.cp_state(), now)
                if self.ext is not None:
                    self.ext.step(now)  # heaters, interlock / meter -> connector hold or fault
                if board.contactor() and not conn.want_contactor():
                    board.set_contactor(False)  # open at once, before anything is reported
                    await board.poll()
                tag = board.take_id_tag()
                if tag:
                    core.present_tag(tag, now)
                core.step(now)
                # the power the EV may take (+) or give (-): safety first, then the cold interlock
                w = core.power.step(now, board.now_s(), conn.want_contactor() and conn.fault is None,
                                    self.cold, core.online, core.tx_ltx, core.tx_id(),
                                    getattr(board, 'soc_pct', -1), getattr(board, 'ev_v2g', False),
                                    getattr(board, 'export_wh', 0))
                if limit is not None:
                    limit(w)
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
        # writes the outbox in order, then ends (the next send starts another)
        ws = self.ws
        try:
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
        finally:
            self.sending = False

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
            try:
                core.connected(ticks_ms())
            except Exception as e:  # e.g. no heap for the BootNotification now: the control step retries
                log('ERROR', 'LINK %r' % e)
            log('INFO', 'JOURNAL n=%d' % core.journal.count())
            while True:
                try:
                    text = await ws.recv_text()
                except Exception as e:  # protocol error: the client already closed the link
                    log('WARN', 'RECV_FAILED %r' % e)
                    text = None
                if text is None:
                    break
                try:
                    core.on_frame(text, ticks_ms())
                except Exception as e:  # as above: what is not sent now goes at a later step
                    log('ERROR', 'LINK %r' % e)
            log('INFO', 'DISCONNECTED %s' % ws.error)
            self.outbox.clear()
            core.disconnected(ticks_ms())
            await asyncio.sleep_ms(backoff.next_ms())


def main():
    gc.collect()
    base = gc.mem_alloc()  # the code's share: every resident module is imported by now
    with open('station.json') as f:
        station = json.load(f)
    if station.get('heap_report_ms'):
        log('INFO', 'HEAP_BASE %d' % base)
    asyncio.run(App(station).run())
