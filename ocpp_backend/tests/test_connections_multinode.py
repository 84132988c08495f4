"""The connection flag with two backend nodes on one PostgreSQL database and one MQTT bus: a node
that starts, or a socket that closes on one node after its station moved to the other, must not
mark stations disconnected that the other node holds."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.tests.multinode import Cluster, Node, broker_fixture, cluster_fixture  # noqa: F401


async def _connected(node: Node) -> bool:
    answer = await node.api.get("/stations/CP-1")
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["connected"])


async def _eventually(node: Node, want: bool, within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while await _connected(node) != want:
        node_id = node.backend.services.registry.node_id
        assert loop.time() < deadline, f"CP-1 connected should read {want} on {node_id}"
        await asyncio.sleep(0.05)


async def test_a_node_that_starts_leaves_the_other_nodes_stations_connected(cluster: Cluster) -> None:
    a = await cluster.start("node-a")
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(call.Heartbeat())
        await _eventually(a, True)
        b = await cluster.start("node-b")
        for node in (a, b):
            assert await _connected(node)
    for node in (a, b):
        await _eventually(node, False)


async def test_a_late_close_on_the_old_node_does_not_disconnect_a_station_that_moved(
    cluster: Cluster,
) -> None:
    a = await cluster.start("node-a")
    b = await cluster.start("node-b")
    moved = b.backend.bus.subscribe(["station.disconnected"])
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD) as old:
        await old.call(call.Heartbeat())
        async with open_station(b.backend.ocpp_url, "CP-1", PASSWORD) as new:
            await new.call(call.Heartbeat())
            await _eventually(b, True)
        # the station's newer socket closed first; now reconnect to B and close the old one on A
        async with open_station(b.backend.ocpp_url, "CP-1", PASSWORD) as again:
            await again.call(call.Heartbeat())
            await _eventually(b, True)
            await old._connection.close()
            await asyncio.sleep(0.5)
            assert await _connected(a) and await _connected(b)
            events = []
            while True:
                try:
                    events.append(await moved.get(0.2))
                except TimeoutError:
                    break
            # one disconnection (the first socket on B); none for the old socket on A
            assert len(events) == 1
    await _eventually(a, False)
