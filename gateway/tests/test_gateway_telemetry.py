"""The telemetry period of the gateway (``GatewayConfig.telemetry_s``, ``--telemetry-s``)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.tests.broker import PREFIX, USERS, Broker
from gateway.tests.test_gateway_mqtt import grid_client, running_gateway
from ocpp_backend.bus import Event, InProcessBus
from ocpp_backend.cli import app


async def _feed(bus: InProcessBus, group: str, every_s: float, until: float) -> int:
    """The dispatcher's side: telemetry for ``group`` every ``every_s`` (faster than the period)."""
    n = 0
    while time.monotonic() < until:
        await bus.publish(Event("dispatch.telemetry", group, {"group": group, "seq": n}))
        n += 1
        await asyncio.sleep(every_s)
    return n


async def test_a_short_period_gives_one_telemetry_per_group_and_period_with_the_newest_values(
    broker: Broker,
) -> None:
    bus = InProcessBus()
    period = 0.5
    async with running_gateway(broker, bus, telemetry_s=period) as gateway, grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/telemetry", qos=1)
        await asyncio.sleep(0.2)
        received: dict[str, list[tuple[float, int]]] = {"feeder-7": [], "feeder-8": []}

        async def listen() -> None:
            async for message in grid.messages:
                body = json.loads(bytes(message.payload))
                received[body["group"]].append((time.monotonic(), body["seq"]))

        listening = asyncio.create_task(listen())
        until = time.monotonic() + 2.6
        fed = await asyncio.gather(_feed(bus, "feeder-7", 0.05, until), _feed(bus, "feeder-8", 0.12, until))
        await asyncio.sleep(period + 0.3)  # the last held telemetry goes out after its period
        listening.cancel()

    for group, last_fed in zip(("feeder-7", "feeder-8"), fed, strict=True):
        times = [t for t, _ in received[group]]
        seqs = [s for _, s in received[group]]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert 5 <= len(times) <= 7, (group, times)  # 2.6 s at 0.5 s: the first at once, then 5
        assert all(gap >= period - 0.05 for gap in gaps), (group, gaps)  # never faster
        assert max(gaps) < period + 0.35, (group, gaps)  # and steadily at the period
        assert seqs[0] == 0 and seqs == sorted(seqs) and seqs[-1] == last_fed - 1  # newest, none repeated
    assert gateway.telemetry_sent == len(received["feeder-7"]) + len(received["feeder-8"])


async def test_a_telemetry_after_a_quiet_period_goes_out_at_once(broker: Broker) -> None:
    bus = InProcessBus()
    async with running_gateway(broker, bus, telemetry_s=0.3) as gateway, grid_client(broker) as grid:
        await grid.subscribe(f"{PREFIX}/telemetry", qos=1)
        await asyncio.sleep(0.2)
        await bus.publish(Event("dispatch.telemetry", "feeder-7", {"group": "feeder-7", "seq": 0}))
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await bus.publish(Event("dispatch.telemetry", "feeder-7", {"group": "feeder-7", "seq": 1}))
        seen: list[int] = []
        async with asyncio.timeout(5):
            async for message in grid.messages:
                seen.append(json.loads(bytes(message.payload))["seq"])
                if len(seen) == 2:
                    break
        assert seen == [0, 1] and time.monotonic() - t0 < 0.25
        assert gateway.telemetry_sent == 2


def _run_gateway_cli(broker: Broker, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Any:
    """``frostgrid gateway run ...`` with the gateway itself replaced: returns its configuration."""
    seen: dict[str, Any] = {}

    class Recorder:
        def __init__(self, config: Any, bus: Any) -> None:
            seen["config"] = config

        async def run(self) -> None:
            return None

    monkeypatch.setattr("gateway.service.Gateway", Recorder)
    bus_url = f"mqtt://backend-1:{USERS['backend-1']}@{broker.host}:{broker.port}/frostgrid/bus"
    result = CliRunner().invoke(
        app, ["gateway", "run", "--port", str(broker.port), "--bus", bus_url, "--password", "x", *extra]
    )
    assert result.exit_code == 0, result.output
    return seen["config"]


def test_gateway_run_takes_the_telemetry_period_from_the_command_line(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run_gateway_cli(broker, monkeypatch).telemetry_s == 60.0
    assert _run_gateway_cli(broker, monkeypatch, "--telemetry-s", "15").telemetry_s == 15.0
