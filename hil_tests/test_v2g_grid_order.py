"""Issue 5's acceptance end to end with real firmware: a grid party's order over a real Mosquitto →
the gateway → the MQTT bus → the backend's fleet dispatcher → SetChargingProfile to three
MicroPython stations charging bidirectional EVs → the power the plant measures.

The wiring is `gateway/tests/test_gateway_dispatch.py`'s (private broker, `Shifted` clock so that
the order's first interval starts now) with `hil_tests/test_v2g_stations.py`'s stations (two
discharge-capable, one not). The backend, the gateway and the grid party's MQTT client share one
loop thread, since the device helpers are synchronous. The stations take their clock from the
backend (BootNotification / Heartbeat `currentTime`), so the backend's answers use the shifted
clock too: otherwise a profile starting at the dispatcher's (shifted) time would not apply yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.service import Gateway, GatewayConfig
from gateway.tests.broker import PREFIX, USERS, Broker, running_broker
from gateway.tests.factory import next_boundary, order_message
from gateway.tests.test_gateway_dispatch import Shifted
from hil_tests.backend_proc import sqlite_url, wait_until
from hil_tests.conftest import dut_factory
from hil_tests.loop_thread import LoopThread
from hil_tests.plant import ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import dut_config
from hil_tests.test_v2g_stations import (
    EV_MAX_W,
    PASSWORD,
    TOL_W,
    InProcessBackend,
    Station,
    start_charging,
    wait_power,
)
from ocpp_backend.backend import Backend
from ocpp_backend.bus_mqtt import MqttBus
from ocpp_backend.dispatch.service import Dispatcher
from ocpp_backend.settings import Settings

GROUP = "feeder-7"
ORDER_KW = -6.0
RESERVE_PCT = 30.0
STEP_S = 1.0
# the dispatcher needs each station's import and export power (for stations it cannot steer)
MEASURANDS = ("Energy.Active.Import.Register,Power.Active.Import,Power.Active.Export,"
              "Energy.Active.Export.Register,SoC")


class GridBackend(InProcessBackend):
    """`InProcessBackend` on the MQTT bus with a shifted-clock dispatcher, plus the gateway and a grid
    party's MQTT client on the same loop thread."""

    def __init__(self, tmp: Path, broker: Broker, clock: Shifted) -> None:
        self._loop = LoopThread("v2g-grid")
        self.broker, self.clock = broker, clock
        self.acks: list[dict[str, Any]] = []
        self._acks_lock = threading.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop.run(self._start(tmp), timeout=60)

    async def _start(self, tmp: Path) -> None:
        b = self.broker
        bus_url = f"mqtt://backend-1:{USERS['backend-1']}@{b.host}:{b.port}/frostgrid/bus"
        self.gateway_bus = MqttBus.from_url(bus_url, "gateway")
        await self.gateway_bus.start()
        settings = Settings(db_url=sqlite_url(tmp / "v2g-grid.db"), host="127.0.0.1", ocpp_port=0,
                            http_port=None, command_timeout_s=10.0, heartbeat_s=60, accept_unknown_tags=True)
        self.backend = Backend(settings, bus=MqttBus.from_url(bus_url, "backend"))
        self.dispatcher = Dispatcher(self.backend.services, step_s=STEP_S, telemetry_s=3600, clock=self.clock)
        self.backend.dispatcher = self.dispatcher
        await self.backend.start()
        self.port = self.backend.ocpp_port
        self.gateway = Gateway(GatewayConfig(PREFIX, b.host, b.port, "gateway", USERS["gateway"]),
                               self.gateway_bus, clock=self.clock)
        self._tasks.append(asyncio.create_task(self.gateway.run()))
        await asyncio.wait_for(self.gateway.ready.wait(), 10)
        subscribed = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._grid_party(subscribed)))
        await asyncio.wait_for(subscribed.wait(), 10)

    async def _grid_party(self, subscribed: asyncio.Event) -> None:
        async with aiomqtt.Client(self.broker.host, self.broker.port, username="grid-a",
                                  password=USERS["grid-a"]) as grid:
            self.grid = grid
            await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
            subscribed.set()
            async for received in grid.messages:
                with self._acks_lock:
                    self.acks.append(json.loads(bytes(received.payload)))

    def run(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the backend's loop."""
        return self._loop.run(coro, timeout=timeout)

    def publish(self, suffix: str, message: dict[str, Any]) -> None:
        """The grid party publishes `message` on `{PREFIX}/{suffix}`."""
        self.run(self.grid.publish(f"{PREFIX}/{suffix}", json.dumps(message), qos=1))

    def stages(self, order_id: str) -> list[str]:
        """The stages acknowledged for `order_id` so far, in order of arrival."""
        with self._acks_lock:
            return [a["stage"] for a in self.acks if a["order_id"] == order_id]

    def ack(self, order_id: str, stage: str) -> dict[str, Any]:
        """The ack of `stage` for `order_id` (it must have come)."""
        with self._acks_lock:
            return next(a for a in self.acks if a["order_id"] == order_id and a["stage"] == stage)

    def stop(self) -> None:
        """Stop the grid client, the gateway, the backend and the loop."""
        async def cancel() -> None:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.backend.stop()
            await self.gateway_bus.close()
        self._loop.run(cancel(), timeout=30)
        self._loop.stop()


class GridRig:
    """The broker-fed backend, the plant, the stations and the clock of this module."""

    def __init__(self, backend: GridBackend, plant: ThreadedPlant, proxy: ThreadedProxy,
                 stations: list[Station]) -> None:
        self.backend, self.plant, self.proxy, self.stations = backend, plant, proxy, stations
        self.dispatcher = backend.dispatcher
        self.clock = backend.clock

    def group_w(self) -> float:
        """The group's power at the plant meters (import positive)."""
        return sum(st.plant.power_w for st in self.stations)

    def setpoints_w(self) -> list[int | None]:
        """The dispatcher's last accepted TxProfile limit per station (None: none in force)."""
        return [self.dispatcher.stations[st.id].setpoint_w for st in self.stations]

    def interval_elapsed_s(self) -> float:
        """Seconds since the current (shifted) quarter-hour began."""
        now = self.clock()
        return (now - next_boundary(now - timedelta(minutes=15))).total_seconds()

    def wait_stage(self, order_id: str, stage: str, timeout: float = 15) -> dict[str, Any]:
        """The ack of `stage` for `order_id` once it came."""
        wait_until(lambda: stage in self.backend.stages(order_id), timeout,
                   what=f"{order_id} {stage} (acks so far {self.backend.stages(order_id)})")
        return self.backend.ack(order_id, stage)

    def order(self, targets_kw: list[float], order_id: str, **extra: Any) -> dict[str, Any]:
        """An order from the current (shifted) quarter-hour on, as the grid party sends it."""
        now = self.clock()
        return order_message(now, targets_kw, order_id=order_id, group=GROUP,
                             start=next_boundary(now - timedelta(minutes=15)), **extra)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, firmware_dir: Path) -> Iterator[GridRig]:
    """A private Mosquitto, the backend and gateway on it, three charging stations in one group:
    capable (behind a link proxy), capable, not capable; each EV's needs say departure in 10 h and
    reserve 30 %."""
    tmp = tmp_path_factory.mktemp("v2g-grid")
    clock = Shifted()
    with running_broker(tmp / "mosquitto") as broker, pytest.MonkeyPatch.context() as mp:
        mp.setattr("ocpp_backend.csms.station.utc_now", clock)  # the stations' clock (module doc)
        backend = GridBackend(tmp, broker, clock)
        plant = ThreadedPlant()
        proxy = ThreadedProxy("127.0.0.1", backend.port)
        make, made = dut_factory(tmp, plant, firmware_dir)
        stations: list[Station] = []
        try:
            for i, capable in enumerate((True, True, False)):
                dut = make(backend, url=proxy.url("/ocpp") if i == 0 else None,  # type: ignore[arg-type]
                           password=PASSWORD, config=dut_config(MeterValuesSampledData=MEASURANDS),
                           discharge_capable=capable, max_power_w=22_000, link_loss_fallback_s=5)
                stations.append(Station(dut, plant.station(dut.id), capable))
            backend.run(backend.dispatcher.add_group(GROUP, [st.id for st in stations],
                                                     charge_kw=EV_MAX_W / 1000, discharge_kw=7.4))
            start_charging(stations)
            for st in stations:
                wait_until(lambda st=st: backend.dispatcher.stations[st.id].transaction_id == st.txid, 20,
                           what=f"{st.id}'s session at the dispatcher")
                backend.run(backend.dispatcher.set_needs(
                    st.id, capacity_kwh=60.0, departure=clock() + timedelta(hours=10),
                    required_soc_pct=80.0, reserve_soc_pct=RESERVE_PCT))
            yield GridRig(backend, plant, proxy, stations)
        finally:
            for d in made:
                d.stop()
            proxy.close()
            plant.close()
            backend.stop()


def hold(seconds: float, check: Callable[[], None], every: float = 0.25) -> None:
    """`check` passes at every sample for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        check()
        time.sleep(every)


def test_a_grid_order_over_mqtt_discharges_the_capable_stations_to_the_group_target(grid: GridRig) -> None:
    capable = [st for st in grid.stations if st.capable]
    plain = next(st for st in grid.stations if not st.capable)
    exported_before = plain.plant.export_wh
    marks = [st.dut.mark() for st in grid.stations]
    grid.backend.publish("dispatch/order", grid.order([ORDER_KW, ORDER_KW], "ORD-1"))

    assert grid.wait_stage("ORD-1", "started")["order_id"] == "ORD-1"
    assert grid.backend.stages("ORD-1") == ["received", "accepted", "started"]
    assert grid.backend.ack("ORD-1", "accepted")["committed_kw"] == [ORDER_KW, ORDER_KW]

    # every station took the dispatcher's TxProfile (the dispatcher records only Accepted answers)
    wait_until(lambda: None not in grid.setpoints_w(), 15, what=f"profiles accepted: {grid.setpoints_w()}")
    for st, mark in zip(grid.stations, marks, strict=True):
        st.dut.wait_for(r"PROFILE_SET id=4711 ", 10, since=mark)
    tolerance_w = 1000 * max(1.0, 0.1 * abs(ORDER_KW))

    def on_target() -> str | None:
        sent = grid.setpoints_w()
        if None in sent:
            return None
        limits = sum(sent)  # type: ignore[arg-type]
        # the dispatcher's step target: the order, plus the make-up for what the interval's first
        # seconds drew (at most the three EVs at full charge) before the profiles came
        elapsed = grid.interval_elapsed_s()
        worst = (ORDER_KW * 900 / 3600 - 3 * EV_MAX_W / 1000 * elapsed / 3600) / ((900 - elapsed) / 3600)
        if not (1000 * worst - tolerance_w <= limits <= 1000 * ORDER_KW + tolerance_w):
            return f"limits sent {sent} W off the step target ({ORDER_KW} kW, make-up to {worst:.2f} kW)"
        if abs(grid.group_w() - limits) > tolerance_w:
            return f"group at the plant {grid.group_w()} W, limits sent {sent} W"
        return None

    deadline = time.monotonic() + 20
    while (problem := on_target()) is not None:
        assert time.monotonic() < deadline, problem
        time.sleep(0.25)

    def steady() -> None:
        assert (problem := on_target()) is None, problem
        assert plain.plant.power_w >= -TOL_W and plain.plant.export_wh == exported_before
        for st in capable:
            assert st.plant.power_w < 0 and st.plant.soc_pct > RESERVE_PCT
    hold(10, steady)
    assert grid.group_w() < 0


def test_an_emergency_zero_stops_the_group_and_its_cancel_restores_charging(grid: GridRig) -> None:
    marks = [st.dut.mark() for st in grid.stations]
    grid.backend.publish("dispatch/order", grid.order([0.0], "EMG-1", priority="emergency"))
    grid.wait_stage("EMG-1", "started")
    assert grid.backend.stages("EMG-1") == ["received", "accepted", "started"]
    if "ORD-1" in [a["order_id"] for a in grid.backend.acks]:  # a normal order it pre-empts ends
        assert "emergency order EMG-1" in grid.wait_stage("ORD-1", "cancelled")["reason"]
    # a 0 W ChargePointMaxProfile on connector 0 of every station, and every station took it
    wait_until(lambda: all(grid.dispatcher.stations[st.id].capped_until is not None for st in grid.stations),
               15, what="the emergency cap accepted everywhere")
    for st, mark in zip(grid.stations, marks, strict=True):
        st.dut.wait_for(r"PROFILE_SET id=4712 ", 10, since=mark)
    for st in grid.stations:
        wait_power(st, 0.0, timeout=15)
    hold(3, lambda: [wait_power(st, 0.0, timeout=0) for st in grid.stations])

    grid.backend.publish("dispatch/cancel", {"order_id": "EMG-1", "party": "grid-a"})
    grid.wait_stage("EMG-1", "cancelled")
    for st in grid.stations:
        wait_power(st, EV_MAX_W, timeout=20)


def test_a_station_cut_off_mid_order_leaves_its_share_to_the_others(grid: GridRig) -> None:
    cut, other = grid.stations[0], grid.stations[1]  # both capable; the first is behind the proxy
    grid.backend.publish("dispatch/order", grid.order([ORDER_KW], "ORD-2"))
    grid.wait_stage("ORD-2", "started")
    wait_until(lambda: cut.plant.power_w < -TOL_W and other.plant.power_w < -TOL_W, 20,
               what="both capable stations discharging")
    mark = cut.dut.mark()
    grid.proxy.cut()
    try:
        cut.dut.wait_for(r"DISCONNECTED", 20, since=mark)
        wait_until(lambda: not grid.dispatcher.stations[cut.id].connected, 20,
                   what="the cut seen by the backend")
        tolerance_w = 1000 * max(1.0, 0.1 * abs(ORDER_KW))
        reached: list[Station] = [st for st in grid.stations if st is not cut]

        def on_target() -> str | None:
            sent = [grid.dispatcher.stations[st.id].setpoint_w for st in reached]
            if None in sent:
                return f"no profile in force at {sent}"
            limits = sum(sent)  # type: ignore[arg-type]
            plant_w = sum(st.plant.power_w for st in reached)
            # the whole group target now on the stations still reached (plus the make-up, both ways)
            if limits > 1000 * ORDER_KW + tolerance_w or limits < -7_400 * len(reached):
                return f"limits sent {sent} W do not carry the group target {ORDER_KW} kW"
            if abs(plant_w - limits) > tolerance_w:
                return f"reached stations at the plant {plant_w} W, limits sent {sent} W"
            return None

        deadline = time.monotonic() + 20
        while (problem := on_target()) is not None:
            assert time.monotonic() < deadline, problem
            time.sleep(0.25)
        hold(5, lambda: None if on_target() is None else pytest.fail(on_target()))
        assert other.plant.power_w <= 1000 * ORDER_KW + tolerance_w  # the other capable EV took the share
    finally:
        grid.proxy.restore()
    grid.backend.publish("dispatch/cancel", {"order_id": "ORD-2", "party": "grid-a"})
    grid.wait_stage("ORD-2", "cancelled")
