"""Grid order over MQTT → gateway → bus (MQTT) → the backend's dispatcher → profiles at stations."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timedelta

import aiomqtt

from gateway.service import Gateway, GatewayConfig
from gateway.tests.broker import PREFIX, USERS, Broker
from gateway.tests.factory import next_boundary, order_message
from ocpp_backend.backend import Backend
from ocpp_backend.bus_mqtt import MqttBus
from ocpp_backend.dispatch.service import Dispatcher
from ocpp_backend.tests.conftest import PASSWORD, register, test_settings
from ocpp_backend.tests.dispatch_station import profile_station
from ocpp_backend.timeutil import utc_now


class Shifted:
    """Real time moved so that the next 15-minute boundary is now (no waiting for the interval)."""

    def __init__(self) -> None:
        self.offset = next_boundary(utc_now()) - utc_now() + timedelta(seconds=0.5)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


async def test_an_order_from_the_grid_reaches_the_stations_with_staged_acks(broker: Broker, tmp_path) -> None:
    clock = Shifted()
    bus_url = f"mqtt://backend-1:{USERS['backend-1']}@{broker.host}:{broker.port}/frostgrid/bus"
    backend_bus, gateway_bus = MqttBus.from_url(bus_url, "backend"), MqttBus.from_url(bus_url, "gateway")
    await backend_bus.start()
    await gateway_bus.start()
    backend = Backend(test_settings(f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"), bus=backend_bus)
    backend.dispatcher = Dispatcher(backend.services, step_s=0.5, telemetry_s=3600, clock=clock)
    await backend.start()
    gateway = Gateway(
        GatewayConfig(PREFIX, broker.host, broker.port, "gateway", USERS["gateway"]), gateway_bus, clock=clock
    )
    running = asyncio.create_task(gateway.run())
    try:
        await register(backend, "V2G-1", PASSWORD)
        await backend.services.id_tokens.put("TAG-OK")
        await backend.dispatcher.add_group("feeder-7", ["V2G-1"])
        await asyncio.wait_for(gateway.ready.wait(), 10)
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD, discharge=True) as cp:
            await cp.plug_in()
            await asyncio.sleep(0.3)
            async with aiomqtt.Client(
                broker.host, broker.port, username="grid-a", password=USERS["grid-a"]
            ) as grid:
                await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
                message = order_message(
                    clock(), [-3.0, -3.0], start=next_boundary(clock() - timedelta(minutes=15))
                )
                await grid.publish(f"{PREFIX}/dispatch/order", json.dumps(message), qos=1)
                stages = []
                async with asyncio.timeout(10):
                    async for received in grid.messages:
                        ack = json.loads(bytes(received.payload))
                        stages.append((ack["stage"], ack.get("committed_kw")))
                        if ack["stage"] == "started":
                            break
                await asyncio.wait_for(cp.changed.wait(), 5)
                cancel = {"order_id": "ORD-1", "party": "grid-a"}
                await grid.publish(f"{PREFIX}/dispatch/cancel", json.dumps(cancel), qos=1)
                async with asyncio.timeout(10):
                    async for received in grid.messages:
                        if json.loads(bytes(received.payload))["stage"] == "cancelled":
                            break
            async with asyncio.timeout(5):
                while cp.cleared == 0:
                    await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await backend.stop()
        await gateway_bus.close()
    assert stages == [("received", None), ("accepted", [-3.0, -3.0]), ("started", None)]
    # -3 kW, plus what the interval's first seconds (before the first profile) missed: 900 / (900 - t)
    assert -3000.0 * 900 / 840 < cp.limits_w[0] <= -3000.0
    assert cp.cleared == 1
