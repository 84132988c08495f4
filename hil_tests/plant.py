"""The plant: what the charger controls and measures, modelled in CPython.

Per station there is an EVSE (its maximum power), an EV that may be plugged in (battery capacity,
state of charge, maximum acceptance power derated in the cold), the cable lock and the contactor as
commanded by the firmware, a queue of RFID cards held to the reader, and the meter register — the
plant's truth about energy delivered. The model is pure: `StationPlant.step(dt_s)` advances it by a
time step given as an argument.

`PlantServer` serves many stations to firmware processes over TCP with the sim-board wire protocol
of docs/interfaces.md §1.3 (newline-delimited JSON; hello/get/set/event). It runs in real time: on
every request, on every test action and on a background tick it advances each station by the
wall-clock time elapsed since that station was last advanced.

Sign convention: positive power is import (the EV charging), negative is export.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil_tests.plant_cold import ColdPlant, MeterBus

# Largest integration step: the taper and cold derating change with state of charge within a step.
_MAX_STEP_S = 1.0
_SECONDS_PER_HOUR = 3600.0


def cold_derate(temp_c: float) -> float:
    """Fraction of its rated power a battery at `temp_c` accepts (1.0 at 10 °C and warmer).

    Lithium-ion cells must not be charged fast when cold (lithium plating); BMSs derate roughly
    linearly down to a trickle near −30 °C and refuse below −40 °C.
    """
    if temp_c >= 10.0:
        return 1.0
    if temp_c <= -40.0:
        return 0.0
    if temp_c <= -30.0:
        return 0.05
    return 0.05 + 0.95 * (temp_c + 30.0) / 40.0


class Ev:
    """An electric vehicle's battery as the charger sees it."""

    def __init__(self, capacity_wh: float = 60_000.0, soc_pct: float = 30.0, max_power_w: float = 11_000.0,
                 target_soc_pct: float = 100.0, battery_temp_c: float = 20.0,
                 requests_charge: bool = True) -> None:
        self.capacity_wh = capacity_wh
        self.soc_pct = soc_pct
        self.max_power_w = max_power_w
        self.target_soc_pct = target_soc_pct
        self.battery_temp_c = battery_temp_c
        self.requests_charge = requests_charge  # the driver/EV wants energy (S2 closed when ready)

    @property
    def wants_charge(self) -> bool:
        """True when the EV asks for energy: it requests charging and is below its target."""
        return self.requests_charge and self.soc_pct < self.target_soc_pct

    def acceptance_w(self) -> float:
        """Power the battery takes now: rated, derated by cold and tapered above 80 % SoC."""
        if not self.wants_charge:
            return 0.0
        taper = 1.0
        if self.soc_pct > 80.0:
            taper = max(0.05, (100.0 - self.soc_pct) / 20.0)
        return self.max_power_w * taper * cold_derate(self.battery_temp_c)

    def absorb(self, energy_wh: float) -> None:
        """Store `energy_wh` in the battery (the charger's losses are ignored)."""
        self.soc_pct = min(100.0, self.soc_pct + 100.0 * energy_wh / self.capacity_wh)


class StationPlant:
    """One charging point's physical side. All methods are thread-safe (one lock per plant)."""

    def __init__(self, station_id: str, evse_max_power_w: float = 22_000.0,
                 clock: Callable[[], float] | None = None, lock: threading.RLock | None = None) -> None:
        self.id = station_id
        self.evse_max_power_w = evse_max_power_w
        self.ev: Ev | None = None
        self.plugged = False
        self.fault = False  # True forces control-pilot state F (e.g. a diode fault)
        self.contactor = False  # as last commanded by the firmware (opens when the controller dies)
        self.lock_engaged = False  # cable lock, as last commanded by the firmware
        self.link_up = False  # a controller is connected to this station's plant link
        self.power_w = 0.0
        self._energy_wh = 0.0  # the meter register, exact; the firmware reads whole Wh
        self._export_wh = 0.0  # the meter's export register (discharge), exact
        self.limit_w: float | None = None  # the firmware's power limit (`set` limit_w); None = never sent
        self._tags: deque[str] = deque()
        self.fw_events: list[tuple[str, Any]] = []  # `event` ops from the firmware
        self.history: list[tuple[float, str, int]] = []  # (plant time s, what happened, register Wh)
        self.violations: list[str] = []  # unsafe commands seen, e.g. contactor closed without an EV ready
        self.requests = 0
        self.cold: ColdPlant | None = None  # heated zones and thermistors (plant_cold.py), or none
        self.meter_bus: MeterBus | None = None  # the RS-485 meter (plant_cold.py), or none
        self._clock = clock
        self._t = clock() if clock else 0.0
        self._lock = lock or threading.RLock()

    # --- the pure model -------------------------------------------------------------------------
    def cp_state(self) -> str:
        """IEC 61851 control-pilot state: A unplugged, B plugged, C EV requests energy, F fault."""
        with self._lock:
            if self.fault:
                return "F"
            if not self.plugged or self.ev is None:
                return "A"
            return "C" if self.ev.wants_charge else "B"

    def step(self, dt_s: float) -> None:
        """Advance the physics by `dt_s` seconds: power flows only with the contactor closed in C/D."""
        with self._lock:
            self._t += dt_s
            remaining = max(0.0, dt_s)
            while True:
                h = min(remaining, _MAX_STEP_S)
                self.power_w = self._power_now()
                if h <= 0.0:
                    break
                e = self.power_w * h / _SECONDS_PER_HOUR
                if e >= 0.0:
                    self._energy_wh += e
                else:
                    self._export_wh -= e
                if self.ev is not None and e != 0.0:
                    ev_bidir.transfer(self.ev, e)
                remaining -= h

    def _power_now(self) -> float:
        if not self.contactor or self.cp_state() not in ("C", "D") or self.ev is None:
            return 0.0
        return ev_bidir.power_w(self.ev, self.limit_w, self.evse_max_power_w)

    def advance_to(self, t_s: float) -> None:
        """Advance to absolute plant time `t_s` (no-op if it lies in the past)."""
        with self._lock:
            if t_s > self._t:
                self.step(t_s - self._t)

    def _catch_up(self) -> None:
        if self._clock is not None:
            self.advance_to(self._clock())

    def _note(self, what: str) -> None:
        self.history.append((self._t, what, self.energy_wh))
        if self.cold is not None and what.startswith("contactor"):
            self.cold.marks.append((what, self.cold.t_s, self.cold.temps_c))

    # --- what the meter and the pilot show ------------------------------------------------------
    @property
    def energy_wh(self) -> int:
        """Meter register in whole Wh (what the firmware reads), truncated like a real register."""
        return int(self._energy_wh)

    @property
    def export_wh(self) -> int:
        """Export (discharge) register in whole Wh."""
        return int(self._export_wh)

    @property
    def energy_exact_wh(self) -> float:
        """The meter register with its fraction."""
        return self._energy_wh

    @property
    def soc_pct(self) -> float | None:
        """The plugged EV's state of charge, or None."""
        return self.ev.soc_pct if self.ev else None

    @property
    def pending_tags(self) -> int:
        """Cards shown that the firmware has not read yet."""
        with self._lock:
            return len(self._tags)

    @property
    def cp(self) -> str:
        """Control-pilot state now (the plant is advanced to the present first)."""
        self._catch_up()
        return self.cp_state()

    # --- test and scenario actions --------------------------------------------------------------
    def plug_in(self, ev: Ev | None = None) -> StationPlant:
        """Plug an EV in (a fresh 60 kWh EV at 30 % by default); it requests charge at once."""
        with self._lock:
            self._catch_up()
            self.ev = ev or Ev()
            self.plugged = True
            self._note("plug_in")
        return self

    def unplug(self) -> StationPlant:
        """Pull the cable: the pilot goes to A and power stops at once."""
        with self._lock:
            self._catch_up()
            if self.lock_engaged:
                self._note("unplug_while_locked")
            self.plugged = False
            self.ev = None
            self.power_w = 0.0
            self._note("unplug")
        return self

    def stop_request(self) -> StationPlant:
        """The EV stops asking for energy (C → B), e.g. the driver pressed stop in the car."""
        with self._lock:
            self._catch_up()
            if self.ev:
                self.ev.requests_charge = False
            self._note("ev_stop_request")
        return self

    def resume_request(self) -> StationPlant:
        """The EV asks for energy again (B → C)."""
        with self._lock:
            self._catch_up()
            if self.ev:
                self.ev.requests_charge = True
            self._note("ev_resume_request")
        return self

    def present_tag(self, tag: str) -> StationPlant:
        """Hold an RFID card to the reader; the firmware's next `get` sees it once."""
        with self._lock:
            self._tags.append(tag)
            self._note(f"tag {tag}")
        return self

    def set_fault(self, on: bool) -> StationPlant:
        """Force (or clear) control-pilot state F."""
        with self._lock:
            self._catch_up()
            self.fault = on
            self._note(f"fault {int(on)}")
        return self

    def attach_cold(self, cold: ColdPlant) -> StationPlant:
        """Give the station heated zones with thermistors (docs/interfaces.md §1.3)."""
        with self._lock:
            self._catch_up()
            self.cold = cold
        return self

    def attach_meter(self, bus: MeterBus) -> StationPlant:
        """Put a Modbus RTU meter on the station's RS-485 bus, reading this plant's register."""
        with self._lock:
            self._catch_up()
            self.meter_bus = bus
            bus.update(self.energy_wh, self.power_w)
        return self

    # --- the firmware's side --------------------------------------------------------------------
    def on_get(self, wall_s: float) -> dict[str, Any]:
        """Answer a `get`: pilot state, meter, one pending card, plant time (+ thermistors)."""
        with self._lock:
            self._catch_up()
            self.requests += 1
            tag = self._tags.popleft() if self._tags else None
            reply = {"cp": self.cp_state(), "energy_wh": self.energy_wh, "power_w": int(round(self.power_w)),
                     "tag": tag, "t": int(wall_s), "export_wh": self.export_wh,
                     "soc": int(self.ev.soc_pct) if self.ev else -1, "v2g": ev_bidir.can_discharge(self.ev)}
            if self.cold is not None:
                self.cold.poll(self._t, charging=self.power_w > 0.0)
                reply["adc"] = self.cold.counts()
                reply["tms"] = self.cold.tms()
                reply["tod"] = self.cold.tod_s()
            return reply

    def on_rs485(self, data: bytes) -> bytes | None:
        """Bytes from the firmware's RS-485 bus; the meter's reply bytes (None: silence)."""
        with self._lock:
            self._catch_up()
            if self.meter_bus is None:
                return None
            self.meter_bus.update(self.energy_wh, self.power_w)
            return self.meter_bus.feed(data)

    def on_set(self, req: dict[str, Any]) -> None:
        """Apply a `set`: contactor, cable lock, power limit (W, negative: discharge), heaters."""
        with self._lock:
            self._catch_up()
            self.requests += 1
            if "contactor" in req:
                on = bool(req["contactor"])
                if on and not self.contactor:
                    if self.cp_state() not in ("C", "D"):
                        self.violations.append(f"contactor closed in state {self.cp_state()}")
                    self.contactor = True
                    self._note("contactor_close")
                elif not on and self.contactor:
                    self.contactor = False
                    self._note("contactor_open")
                self.power_w = self._power_now()
            if "limit_w" in req:
                self.limit_w = float(req["limit_w"])
                self.power_w = self._power_now()
            if "heat" in req and self.cold is not None:
                self.cold.set_heaters([int(d) for d in req["heat"]])
            if "lock" in req:
                locked = bool(req["lock"])
                if locked != self.lock_engaged:
                    self.lock_engaged = locked
                    self._note("lock" if locked else "unlock")

    def on_link(self, up: bool) -> None:
        """The controller connected or went away; a dead controller cannot hold the contactor."""
        with self._lock:
            self._catch_up()
            self.link_up = up
            if not up and self.contactor:
                self.contactor = False
                self.power_w = 0.0
                self._note("contactor_dropped")
            self._note("link_up" if up else "link_down")

    def contactor_closed_intervals(self) -> list[tuple[int, int | None]]:
        """(register at close, register at open or None if still closed) for each closed interval."""
        with self._lock:
            out: list[tuple[int, int | None]] = []
            for _, what, e in self.history:
                if what == "contactor_close":
                    out.append((e, None))
                elif what in ("contactor_open", "contactor_dropped") and out and out[-1][1] is None:
                    out[-1] = (out[-1][0], e)
            return out


class PlantServer:
    """The plants of many stations behind one TCP listener (sim-board protocol, real time).

    Run it on an asyncio loop (`await start()` / `await stop()`); tests use it from a
    `hil_tests.loop_thread.LoopThread`. The model objects are thread-safe.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tick_s: float = 0.2,
                 evse_max_power_w: float = 22_000.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the plant listens on loopback only")
        self.host = host
        self.port = port
        self.tick_s = tick_s
        self.evse_max_power_w = evse_max_power_w
        self.clock = clock
        self.wall = wall
        self._lock = threading.RLock()
        self._stations: dict[str, StationPlant] = {}
        self._owner: dict[str, object] = {}  # station id -> the connection that controls it now
        self._server: asyncio.base_events.Server | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.bad_requests: list[str] = []

    @property
    def address(self) -> str:
        """`host:port` for station.json's `plant` field."""
        return f"{self.host}:{self.port}"

    def station(self, station_id: str) -> StationPlant:
        """The plant of `station_id` (created on first use)."""
        with self._lock:
            st = self._stations.get(station_id)
            if st is None:
                st = StationPlant(station_id, self.evse_max_power_w, clock=self.clock, lock=self._lock)
                self._stations[station_id] = st
            return st

    def stations(self) -> list[StationPlant]:
        """All stations known to the plant."""
        with self._lock:
            return list(self._stations.values())

    def advance(self) -> None:
        """Advance every station to now."""
        now = self.clock()
        for st in self.stations():
            st.advance_to(now)

    async def start(self) -> None:
        """Listen and start the background tick."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._tick_task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._tick_task:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        if self._server:
            self._server.close()
        for w in list(self._conns):
            w.close()
        if self._server:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def drop_links(self, station_id: str | None = None) -> None:
        """Close the plant link of one station (or all): the firmware should see pilot state E."""
        with self._lock:
            owners = dict(self._owner)
        for sid, w in owners.items():
            if station_id is None or sid == station_id:
                w.close()  # type: ignore[attr-defined]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self.advance()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        sid: str | None = None
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("request is not an object")
                    if req.get("op") == "hello" and req.get("bus") == "rs485":
                        writer.write(b'{"ok":1}\n')
                        await writer.drain()
                        await self._serve_rs485(str(req["id"]), reader, writer)
                        return
                    reply, sid = self._handle(req, sid, writer)
                except (ValueError, KeyError, TypeError) as e:
                    self.bad_requests.append(f"{sid}: {line[:200]!r}: {e}")
                    reply = {"ok": 0, "err": str(e)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(writer)
            if sid is not None:
                with self._lock:
                    mine = self._owner.get(sid) is writer
                    if mine:
                        del self._owner[sid]
                if mine:
                    self.station(sid).on_link(False)
            writer.close()

    async def _serve_rs485(self, sid: str, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        # raw Modbus RTU bytes both ways, as on the wire (§1.3); the meter answers what is addressed to it
        st = self.station(sid)
        while True:
            data = await reader.read(512)
            if not data:
                return
            reply = st.on_rs485(data)
            if reply:
                writer.write(reply)
                await writer.drain()

    def _handle(self, req: dict[str, Any], sid: str | None,
                writer: asyncio.StreamWriter) -> tuple[dict[str, Any], str | None]:
        op = req.get("op")
        if op == "hello":
            sid = str(req["id"])
            with self._lock:
                old = self._owner.get(sid)
                self._owner[sid] = writer
            if old is not None and old is not writer:
                old.close()  # type: ignore[attr-defined]
            self.station(sid).on_link(True)
            return {"ok": 1}, sid
        if sid is None:
            raise ValueError("hello first")
        st = self.station(sid)
        if op == "get":
            return st.on_get(self.wall()), sid
        if op == "set":
            st.on_set(req)
            return {"ok": 1}, sid
        if op == "event":
            with self._lock:
                st.fw_events.append((str(req.get("name")), req.get("data")))
            return {"ok": 1}, sid
        raise ValueError(f"unknown op {op!r}")


class ThreadedPlant:
    """A `PlantServer` on its own loop thread, for synchronous tests and the fleet."""

    def __init__(self, **kwargs: Any) -> None:
        from hil_tests.loop_thread import LoopThread

        self.server = PlantServer(**kwargs)
        self._loop = LoopThread("plant")
        self._loop.run(self.server.start())

    @property
    def address(self) -> str:
        """`host:port` for station.json."""
        return self.server.address

    def station(self, station_id: str) -> StationPlant:
        """The plant of one station."""
        return self.server.station(station_id)

    def drop_links(self, station_id: str | None = None) -> None:
        """Close plant links (see `PlantServer.drop_links`)."""
        self._loop.run(self.server.drop_links(station_id))

    def close(self) -> None:
        """Stop the server and its thread."""
        if self._loop.alive:
            with contextlib.suppress(Exception):
                self._loop.run(self.server.stop(), timeout=5)
            self._loop.stop()


# the EV's power and energy path (bidirectional EVs, cold losses); it builds on Ev above
from hil_tests import ev_bidir  # noqa: E402
