"""The gateway over a real, access-controlled Mosquitto on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiomqtt
import pytest

from gateway.orders import sign
from gateway.service import Gateway, GatewayConfig
from gateway.tests.broker import PREFIX, USERS, Broker
from gateway.tests.factory import order_message
from ocpp_backend.bus import Event, InProcessBus
from ocpp_backend.timeutil import utc_now

KEY = b"grid-a shared key"
ORDER_TOPIC = f"{PREFIX}/dispatch/order"


@contextlib.asynccontextmanager
async def running_gateway(broker: Broker, bus: InProcessBus, **config: object) -> AsyncIterator[Gateway]:
    gateway = Gateway(
        GatewayConfig(
            prefix=PREFIX,
            host=broker.host,
            port=broker.port,
            username="gateway",
            password=USERS["gateway"],
            **config,  # type: ignore[arg-type]
        ),
        bus,
    )
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 10)
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def grid_client(broker: Broker, user: str = "grid-a", password: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, username=user, password=password or USERS[user])


async def next_json(client: aiomqtt.Client, timeout_s: float = 5.0) -> tuple[str, dict]:
    async def first() -> tuple[str, dict]:
        async for message in client.messages:
            return str(message.topic), json.loads(bytes(message.payload))
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(first(), timeout_s)


async def fake_dispatcher(bus: InProcessBus, stages: list[str]) -> None:
    """Answers each order with the given stages (what the backend's dispatcher does for real)."""
    with bus.subscribe(["dispatch.order", "dispatch.cancel"]) as orders:
        async for event in orders:
            stage_list = ["cancelled"] if event.kind == "dispatch.cancel" else stages
            for stage in stage_list:
                await bus.publish(
                    Event(
                        "dispatch.ack",
                        "",
                        {
                            "order_id": event.data["order_id"],
                            "stage": stage,
                            "time": utc_now().isoformat(),
                            "committed_kw": [1.0] if stage == "accepted" else None,
                        },
                    )
                )


async def test_an_order_gets_received_accepted_started_and_completed_acks_in_order(broker: Broker) -> None:
    bus = InProcessBus()
    answering = asyncio.create_task(fake_dispatcher(bus, ["accepted", "started", "completed"]))
    try:
        async with running_gateway(broker, bus), grid_client(broker) as grid:
            await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
            await grid.publish(ORDER_TOPIC, json.dumps(order_message(utc_now(), [50.0])), qos=1)
            acks = [await next_json(grid) for _ in range(4)]
    finally:
        answering.cancel()
    assert [topic for topic, _ in acks] == [f"{PREFIX}/dispatch/ack/ORD-1"] * 4
    assert [ack["stage"] for _, ack in acks] == ["received", "accepted", "started", "completed"]
    assert acks[1][1]["committed_kw"] == [1.0]


async def test_a_bad_order_is_rejected_naming_the_field_and_never_reaches_the_dispatcher(
    broker: Broker,
) -> None:
    bus = InProcessBus()
    seen = bus.subscribe(["dispatch.order"])
    async with running_gateway(broker, bus), grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
        bad = order_message(utc_now(), [50.0], mode="sideways")
        await grid.publish(ORDER_TOPIC, json.dumps(bad), qos=1)
        topic, ack = await next_json(grid)
        await grid.publish(ORDER_TOPIC, b"\x00garbage", qos=1)
        topic2, ack2 = await next_json(grid)
    assert topic.endswith("/dispatch/ack/ORD-1")
    assert (ack["stage"], ack["field"]) == ("rejected", "mode")
    assert topic2.endswith("/dispatch/ack/_invalid") and ack2["stage"] == "rejected"
    assert seen.queue.empty()


async def test_an_order_with_a_wrong_signature_is_rejected(broker: Broker) -> None:
    bus = InProcessBus()
    seen = bus.subscribe(["dispatch.order"])
    async with running_gateway(broker, bus, keys={"grid-a": KEY}), grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
        forged = sign(order_message(utc_now(), [50.0]), b"not the key")
        await grid.publish(ORDER_TOPIC, json.dumps(forged), qos=1)
        _, ack = await next_json(grid)
        good = sign(order_message(utc_now(), [50.0], order_id="ORD-2"), KEY)
        await grid.publish(ORDER_TOPIC, json.dumps(good), qos=1)
        _, ack2 = await next_json(grid)
        # the "received" ack goes out just before the order is handed on
        handed = await seen.get(2.0)
    assert (ack["stage"], ack["field"]) == ("rejected", "signature")
    assert (ack2["order_id"], ack2["stage"]) == ("ORD-2", "received")
    assert handed.data["order_id"] == "ORD-2" and seen.queue.empty()


async def test_an_unauthenticated_publisher_cannot_connect(broker: Broker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with grid_client(broker, "grid-a", "wrong password"):
            pass


async def test_a_user_without_a_write_grant_cannot_inject_an_order(broker: Broker) -> None:
    bus = InProcessBus()
    seen = bus.subscribe(["dispatch.order"])
    async with running_gateway(broker, bus) as gateway:
        async with grid_client(broker, "viewer") as viewer:
            await viewer.publish(ORDER_TOPIC, json.dumps(order_message(utc_now(), [5.0])), qos=1)
        async with grid_client(broker, "backend-1") as bus_node:
            await bus_node.publish(ORDER_TOPIC, json.dumps(order_message(utc_now(), [5.0])), qos=1)
        # A legitimate order sent after them is the first thing the gateway handles.
        async with grid_client(broker) as grid:
            await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
            message = order_message(utc_now(), [5.0], order_id="ORD-LEGIT")
            await grid.publish(ORDER_TOPIC, json.dumps(message), qos=1)
            _, ack = await next_json(grid)
        # the "received" ack goes out before the gateway hands the order on: wait for that
        for _ in range(100):
            if gateway.handled and seen.queue.qsize():
                break
            await asyncio.sleep(0.02)
        assert gateway.handled == 1
    assert ack["order_id"] == "ORD-LEGIT"
    assert seen.queue.qsize() == 1


async def test_a_grid_party_cannot_forge_acks(broker: Broker) -> None:
    bus = InProcessBus()
    async with running_gateway(broker, bus), grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
        forged = {"order_id": "ORD-1", "stage": "completed"}
        await grid.publish(f"{PREFIX}/dispatch/ack/ORD-1", json.dumps(forged), qos=1)
        await grid.publish(ORDER_TOPIC, json.dumps(order_message(utc_now(), [5.0])), qos=1)
        _, first = await next_json(grid)
        with pytest.raises(TimeoutError):
            await next_json(grid, 0.5)
    assert first["stage"] == "received"


async def test_a_cancel_reaches_the_dispatcher_and_its_answer_reaches_the_grid(broker: Broker) -> None:
    bus = InProcessBus()
    answering = asyncio.create_task(fake_dispatcher(bus, ["accepted"]))
    try:
        async with running_gateway(broker, bus), grid_client(broker) as grid:
            await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
            cancel = {"order_id": "ORD-9", "party": "grid-a"}
            await grid.publish(f"{PREFIX}/dispatch/cancel", json.dumps(cancel), qos=1)
            stages = [(await next_json(grid))[1]["stage"] for _ in range(2)]
    finally:
        answering.cancel()
    assert stages == ["received", "cancelled"]


async def test_telemetry_and_verification_events_are_published_to_the_grid(broker: Broker) -> None:
    bus = InProcessBus()
    async with running_gateway(broker, bus), grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/telemetry", qos=1)
        await grid.subscribe(f"{PREFIX}/verification/#", qos=1)
        await bus.publish(Event("dispatch.telemetry", "", {"group": "feeder-7", "import_kw": 12.5}))
        await bus.publish(Event("dispatch.verification", "", {"order_id": "ORD-1", "delivered_kwh": 3.0}))
        got = dict([await next_json(grid), await next_json(grid)])
    assert got[f"{PREFIX}/telemetry"]["import_kw"] == 12.5
    assert got[f"{PREFIX}/verification/ORD-1"]["delivered_kwh"] == 3.0


async def test_an_order_the_dispatcher_does_not_answer_in_time_is_rejected_and_withdrawn(
    broker: Broker,
) -> None:
    bus = InProcessBus()
    withdrawn = bus.subscribe(["dispatch.cancel"])
    async with running_gateway(broker, bus), grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/dispatch/ack/#", qos=1)
        message = order_message(utc_now(), [5.0])
        message["response_deadline"] = (utc_now() + timedelta(seconds=1)).isoformat()
        await grid.publish(ORDER_TOPIC, json.dumps(message), qos=1)
        stages = [(await next_json(grid))[1] for _ in range(2)]
        cancel = await withdrawn.get(5)
    assert [a["stage"] for a in stages] == ["received", "rejected"]
    assert stages[1]["field"] == "response_deadline"
    assert cancel.data["order_id"] == "ORD-1"
