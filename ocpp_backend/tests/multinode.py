"""Several backend nodes on one database and one MQTT bus, for the multi-node tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.tests.broker import USERS, Broker, running_broker
from ocpp_backend.backend import Backend
from ocpp_backend.bus_mqtt import MqttBus
from ocpp_backend.tests.conftest import PASSWORD, register, test_settings

# Short thresholds: offline after 1 s without a connection, rules evaluated every 50 ms.
# last_seen is written at most every 0.2 s (instead of 60 s), in proportion to the 1 s heartbeat.
FAST = {
    "heartbeat_s": 1,
    "alarm_offline_heartbeats": 1.0,
    "alarm_tick_s": 0.05,
    "last_seen_every_s": 0.2,
    "http_port": 0,
}


@dataclass
class Node:
    """One backend node and an operator's API client for it."""

    backend: Backend
    api: httpx.AsyncClient

    async def alarms(self, **params: Any) -> list[dict[str, Any]]:
        """``GET /alarms`` on this node (every alarm of CP-1 by default)."""
        answer = await self.api.get("/alarms", params={"station_id": "CP-1", **params})
        assert answer.status_code == 200, answer.text
        return list(answer.json())

    def open_gauge(self, kind: str) -> float:
        """This node's ``frostgrid_alarms_open{kind}``."""
        value = self.backend.services.metrics.registry.get_sample_value(
            "frostgrid_alarms_open", {"kind": kind}
        )
        return float(value or 0.0)


class Cluster:
    """Backend nodes started on demand, all on one database and one bus; stopped at the end."""

    def __init__(self, db_url: str, bus_url: str, stack: AsyncExitStack) -> None:
        self.db_url, self.bus_url, self._stack = db_url, bus_url, stack
        self.nodes: list[Node] = []

    async def start(self, name: str) -> Node:
        """Start node ``name`` (the first one registers station CP-1)."""
        backend = Backend(test_settings(self.db_url, **FAST), bus=MqttBus.from_url(self.bus_url, name))
        await backend.start()
        self._stack.push_async_callback(backend.stop)
        if not self.nodes:
            await register(backend, "CP-1", PASSWORD)
        token = (await backend.services.access.create_token("operator", f"{name}-ops")).token
        api = httpx.AsyncClient(
            base_url=backend.api_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
        )
        self._stack.push_async_callback(api.aclose)
        self.nodes.append(Node(backend, api))
        return self.nodes[-1]


# Fixtures under other function names, so that test modules can import them (pytest finds them by
# ``name``) without shadowing warnings.
@pytest.fixture(name="broker")
def broker_fixture(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free loopback port."""
    with running_broker(tmp_path / "mosquitto") as started:
        yield started


@pytest.fixture(name="cluster")
async def cluster_fixture(pg_url: str, broker: Broker) -> AsyncIterator[Cluster]:
    """No node yet: a fresh PostgreSQL database and a private bus."""
    bus_url = f"mqtt://backend-1:{USERS['backend-1']}@{broker.host}:{broker.port}/frostgrid/bus"
    async with AsyncExitStack() as stack:
        yield Cluster(pg_url, bus_url, stack)
