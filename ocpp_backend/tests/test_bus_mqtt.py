"""The bus over MQTT: events and commands cross from one process's bus to another's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.tests.broker import USERS, Broker, running_broker
from ocpp_backend.bus import Command, CommandRejected, Event, StationOffline
from ocpp_backend.bus_mqtt import MqttBus


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path / "mosquitto") as started:
        yield started


@pytest.fixture
async def two_nodes(broker: Broker) -> AsyncIterator[tuple[MqttBus, MqttBus]]:
    url = f"mqtt://backend-1:{USERS['backend-1']}@{broker.host}:{broker.port}/frostgrid/bus"
    a, b = MqttBus.from_url(url, "node-a"), MqttBus.from_url(url, "node-b")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_an_event_published_on_one_node_reaches_subscribers_on_both(
    two_nodes: tuple[MqttBus, MqttBus],
) -> None:
    a, b = two_nodes
    on_a, on_b = a.subscribe(["station.connected"]), b.subscribe(["station.connected"])
    await a.publish(Event("station.connected", "CP-1", {"n": 1}))
    got_b = await on_b.get(5)
    got_a = await on_a.get(5)
    assert (got_b.kind, got_b.station_id, got_b.data) == ("station.connected", "CP-1", {"n": 1})
    assert got_b.time == got_a.time
    assert on_a.queue.empty()  # its own echo is not delivered twice


async def test_a_command_reaches_the_node_holding_the_station_and_the_answer_comes_back(
    two_nodes: tuple[MqttBus, MqttBus],
) -> None:
    a, b = two_nodes
    seen: list[Command] = []

    async def station(command: Command) -> dict[str, Any]:
        seen.append(command)
        if command.action == "Reset":
            raise CommandRejected("NotSupported", "no resets here")
        return {"status": "Accepted"}

    a.attach("CP-1", station)
    answer = await b.send_command(Command("CP-1", "SetChargingProfile", {"connector_id": 1}), 5)
    with pytest.raises(CommandRejected) as refused:
        await b.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 5)
    assert answer == {"status": "Accepted"}
    assert [c.action for c in seen] == ["SetChargingProfile", "Reset"]
    assert seen[0].payload == {"connector_id": 1}
    assert refused.value.code == "NotSupported"


async def test_a_station_no_node_holds_is_offline(two_nodes: tuple[MqttBus, MqttBus]) -> None:
    _, b = two_nodes
    with pytest.raises(StationOffline):
        await b.send_command(Command("CP-404", "Reset", {"type": "Soft"}), 5)
