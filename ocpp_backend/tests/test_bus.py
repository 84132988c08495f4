"""The in-process bus: events fan out to subscribers; commands go to the connection holder."""

from __future__ import annotations

import asyncio

import pytest

from ocpp_backend.bus import Command, CommandTimeout, Event, InProcessBus, StationOffline


async def test_events_reach_subscribers_of_their_kind_only() -> None:
    bus = InProcessBus()
    with bus.subscribe(["connector.status"]) as status_only, bus.subscribe() as everything:
        await bus.publish(Event("station.connected", "CP-1"))
        await bus.publish(Event("connector.status", "CP-1", {"status": "Charging"}))
        assert (await status_only.get(1)).data == {"status": "Charging"}
        assert [(await everything.get(1)).kind for _ in range(2)] == ["station.connected", "connector.status"]
    await bus.publish(Event("connector.status", "CP-1"))  # closed subscriptions receive nothing
    assert status_only.queue.empty()


async def test_slow_subscriber_loses_oldest_events_and_never_blocks_publishers() -> None:
    bus = InProcessBus()
    with bus.subscribe(max_queue=3) as slow:
        for i in range(5):
            await bus.publish(Event("meter.readings", "CP-1", {"i": i}))
        assert slow.dropped == 2
        assert [(await slow.get(1)).data["i"] for _ in range(3)] == [2, 3, 4]


async def test_commands_go_to_the_attached_executor_and_time_out() -> None:
    bus = InProcessBus()
    seen: list[Command] = []

    async def answer(command: Command) -> dict:
        seen.append(command)
        return {"status": "Accepted"}

    async def never(command: Command) -> dict:
        await asyncio.sleep(3600)
        return {}

    with pytest.raises(StationOffline):
        await bus.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 1)
    bus.attach("CP-1", answer)
    assert await bus.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 1) == {"status": "Accepted"}
    assert seen == [Command("CP-1", "Reset", {"type": "Soft"})]
    bus.attach("CP-1", never)  # a newer connection replaced the old one...
    bus.detach("CP-1", answer)  # ...so the old one's detach does not remove it
    with pytest.raises(CommandTimeout, match="did not answer Reset within 0.1 s"):
        await bus.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 0.1)
    bus.detach("CP-1", never)
    with pytest.raises(StationOffline):
        await bus.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 1)
