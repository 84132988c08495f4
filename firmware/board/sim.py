# SimBoard: the board interface (docs/interfaces.md §1.2) over TCP to the plant model, speaking
# newline-delimited JSON (§1.3): the firmware asks, the plant answers, one line each way.
# While the plant link is down the control pilot reads 'E' (no pilot), so the contactor opens;
# commands not acknowledged by the plant are sent again after the reconnect.
# A station with heated zones or a Modbus meter gets board/sim_cold.py's subclass, which uses the
# two hooks here: `_more` (one more request to send before the next `get`) and `_got(reply)`.
import asyncio
import json
import sys
import time
from micropython import const
from time import ticks_add, ticks_diff, ticks_ms

_IO_TIMEOUT_MS = const(2000)
_RETRY_MS = const(1000)  # between reconnect attempts


class SimBoard:
    def __init__(self, station, config=None):
        host, port = station['plant'].rsplit(':', 1)
        self.host = host
        self.port = int(port)
        self.id = station['id']
        self.linked = False  # the plant link is up
        self._s = None  # the asyncio stream (reader and writer are one object in MicroPython)
        self._cp = 'E'
        self._energy_wh = 0
        self._power_w = 0
        self._tag = None
        self._want = [False, False]  # contactor, lock: as commanded
        self._told = [None, None]  # as acknowledged by the plant; None = unknown
        self._offset_s = 0  # added to time.time(): set by set_time, else follows the plant clock
        self._clock_set = False
        self._retry_at = ticks_ms()
        self._more = None  # one more request for the plant before the next get (subclass), or None
        self._limit_w = 0  # power the EV may take (+) or give (-), from the setpoint executor
        self._limit_told = None  # as acknowledged by the plant
        self.soc_pct = -1  # the EV's state of charge as the plant reports it; -1 unknown
        self.ev_v2g = False  # the EV accepts discharge
        self.export_wh = 0  # the meter's export register

    async def start(self):
        await self._connect()

    async def _connect(self):
        self._retry_at = ticks_add(ticks_ms(), _RETRY_MS)
        try:
            self._s = (await asyncio.wait_for_ms(asyncio.open_connection(self.host, self.port),
                                                 _IO_TIMEOUT_MS))[0]
            r = await self._ask('{"op":"hello","id":%s}' % json.dumps(self.id))
            if not r.get('ok'):
                raise OSError('plant refused hello')
        except Exception:
            self._down()
            return
        self.linked = True
        self._told[0] = self._told[1] = None
        self._limit_told = None

    async def _ask(self, text):
        s = self._s
        s.write(text)
        s.write('\n')
        await s.drain()
        line = await asyncio.wait_for_ms(s.readline(), _IO_TIMEOUT_MS)
        if not line:
            raise OSError('plant closed the link')
        return json.loads(line)

    def _down(self):
        if self._s is not None:
            try:
                self._s.close()
            except Exception:
                pass
        self._s = None
        self.linked = False
        self._cp = 'E'
        self._power_w = 0

    async def poll(self):
        if not self.linked:
            if ticks_diff(ticks_ms(), self._retry_at) < 0:
                return
            await self._connect()
            if not self.linked:
                return
        try:
            for i in (0, 1):
                want = self._want[i]
                if self._told[i] != want:
                    await self._ask('{"op":"set","%s":%d}' % ('lock' if i else 'contactor', want))
                    self._told[i] = want
            w = self._limit_w
            if self._limit_told != w:
                await self._ask('{"op":"set","limit_w":%d}' % w)
                self._limit_told = w
            if self._more is not None:
                more, self._more = self._more, None
                await self._ask(more)
            r = await self._ask('{"op":"get"}')
        except Exception:
            self._down()
            return
        cp = r.get('cp')
        self._cp = cp if cp in ('A', 'B', 'C', 'D', 'E', 'F') else 'E'
        self._energy_wh = int(r.get('energy_wh') or 0)
        self._power_w = int(r.get('power_w') or 0)
        if r.get('tag'):
            self._tag = r['tag']
        self.soc_pct = r.get('soc', -1)
        self.ev_v2g = r.get('v2g') is True
        self.export_wh = int(r.get('export_wh') or 0)
        t = r.get('t')
        if t and not self._clock_set:
            self._offset_s = int(t) - int(time.time())
        self._got(r)

    def _got(self, r):
        pass  # the plant's reply, for a subclass

    def cp_state(self):
        return self._cp

    def meter(self):
        return self._energy_wh, self._power_w

    def take_id_tag(self):
        tag, self._tag = self._tag, None
        return tag

    def set_contactor(self, on):
        self._want[0] = bool(on)

    def set_lock(self, locked):
        self._want[1] = bool(locked)

    def contactor(self):
        return self._want[0]

    def set_limit(self, power_w):
        self._limit_w = power_w

    def feed_wdt(self):
        pass

    def now_s(self):
        return int(time.time()) + self._offset_s

    def set_time(self, epoch_s):
        self._offset_s = int(epoch_s) - int(time.time())
        self._clock_set = True

    def reset(self, hard):
        # the runner (hil_tests.dut, the fleet) starts the process again, as a boot loop would
        self._down()
        sys.exit(3)
