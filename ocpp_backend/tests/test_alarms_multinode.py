"""Alarms with two backend nodes sharing one PostgreSQL database and one MQTT bus (a private
Mosquitto): each node runs the alarm rules over the same events, yet an alarm is raised once, both
nodes' APIs show it, and an acknowledgement or a clear made on one node is seen on the other.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from ocpp_backend.bus import Event, Subscription
from ocpp_backend.services.alarms import AlarmRules, Thresholds
from ocpp_backend.settings import Settings as AppSettings
from ocpp_backend.tests.chargepoint import SimChargePoint, open_station
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.tests.multinode import Cluster, Node, broker_fixture, cluster_fixture  # noqa: F401

SETTLE_S = 1.0  # long enough for both nodes to have handled every event and several ticks


@pytest.fixture
async def nodes(cluster: Cluster) -> tuple[Node, Node]:
    """Two started backends on one fresh PostgreSQL database and one bus; station CP-1 registered."""
    return await cluster.start("node-a"), await cluster.start("node-b")


async def _fault(cp: SimChargePoint, code: str | None) -> None:
    """A StatusNotification of connector 1 with a Frostgrid vendor code, or a clean one."""
    await cp.call(
        call.StatusNotification(
            connector_id=1,
            error_code="OtherError" if code else "NoError",
            status="Faulted" if code else "Available",
            info="HeaterFault zone=electronics" if code else None,
            vendor_id="Frostgrid" if code else None,
            vendor_error_code=code,
        )
    )


async def _drain(events: Subscription, quiet_s: float = SETTLE_S) -> list[Event]:
    """Every event that arrives until none has for ``quiet_s``."""
    got: list[Event] = []
    while True:
        try:
            got.append(await events.get(quiet_s))
        except TimeoutError:
            return got


async def _wait_for(events: Subscription, kind: str, timeout_s: float = 10.0) -> Event:
    while True:
        event = await events.get(timeout_s)
        if event.kind == kind:
            return event


async def test_a_heater_fault_is_raised_once_seen_on_both_nodes_and_acknowledged_across(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    # node B hears every alarm event: its own at once, node A's over the bus
    events = b.backend.bus.subscribe(["alarm.raised", "alarm.cleared", "alarm.acked"])
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await _fault(cp, "FG_HEATER")
        raised = await _wait_for(events, "alarm.raised")
        assert await _drain(events) == []  # the other node did not raise it a second time

        on_a, on_b = await a.alarms(), await b.alarms()
        assert [(x["id"], x["kind"], x["open"]) for x in on_a] == [(raised.data["id"], "heater_fault", True)]
        assert on_b == on_a
        assert (a.open_gauge("heater_fault"), b.open_gauge("heater_fault")) == (1.0, 1.0)

        acked = await b.api.post(f"/alarms/{raised.data['id']}/ack", json={"comment": "crew on the way"})
        assert acked.status_code == 200, acked.text
        seen_on_a = (await a.api.get(f"/alarms/{raised.data['id']}")).json()
        assert (seen_on_a["acked_by"], seen_on_a["comment"]) == ("node-b-ops", "crew on the way")
        again = await a.api.post(f"/alarms/{raised.data['id']}/ack", json={"comment": "me too"})
        assert again.status_code == 409

        await _fault(cp, None)
        later = await _drain(events)
    assert [e.kind for e in later] == ["alarm.acked", "alarm.cleared"]
    for node in (a, b):
        history = await node.alarms()
        assert [(x["id"], x["open"], x["acked_by"]) for x in history] == [
            (raised.data["id"], False, "node-b-ops")
        ]
        assert node.open_gauge("heater_fault") == 0.0


async def test_an_offline_station_gets_one_alarm_that_clears_when_it_returns_to_the_other_node(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    events = a.backend.bus.subscribe(["alarm.raised", "alarm.cleared"])
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD):
        pass  # connected to node A, then gone: both nodes count the missed heartbeats
    raised = await _wait_for(events, "alarm.raised")
    assert raised.data["kind"] == "offline"
    assert await _drain(events) == []

    for node in (a, b):
        assert [(x["kind"], x["open"]) for x in await node.alarms()] == [("offline", True)]
        assert node.open_gauge("offline") == 1.0

    async with open_station(b.backend.ocpp_url, "CP-1", PASSWORD):
        cleared = await _wait_for(events, "alarm.cleared")
        assert (cleared.data["id"], cleared.data["clear_reason"]) == (raised.data["id"], "connected")
        assert await _drain(events) == []
        for node in (a, b):
            assert [(x["kind"], x["open"]) for x in await node.alarms()] == [("offline", False)]
            assert node.open_gauge("offline") == 0.0


async def test_a_fault_that_comes_and_goes_quickly_leaves_one_alarm_per_occurrence(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    events = b.backend.bus.subscribe(["alarm.raised", "alarm.cleared"])
    occurrences = 6
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD) as cp:
        # back to back: node A handles a fault and its clearing before node B hears of the fault
        for _ in range(occurrences):
            await _fault(cp, "FG_HEATER")
            await _fault(cp, None)
        seen = await _drain(events)
        await _fault(cp, "FG_HEATER")  # the last one stays
        seen += await _drain(events)

    kinds = [e.kind for e in seen]
    assert (kinds.count("alarm.raised"), kinds.count("alarm.cleared")) == (occurrences + 1, occurrences)
    for node in (a, b):
        history = await node.alarms(limit=100)
        assert len(history) == occurrences + 1
        assert [x["open"] for x in history] == [True] + [False] * occurrences  # newest first
        assert node.open_gauge("heater_fault") == 1.0


async def test_a_node_started_while_the_station_is_on_another_node_raises_no_offline_alarm(
    cluster: Cluster,
) -> None:
    a = await cluster.start("node-a")
    async with open_station(a.backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(call.Heartbeat())
        # node B has never seen CP-1 connect: at start it counts it as absent since then
        b = await cluster.start("node-b")
        events = b.backend.bus.subscribe(["alarm.raised"])
        for _ in range(10):  # 3 s of heartbeats to node A: three times the offline threshold
            await cp.call(call.Heartbeat())
            await asyncio.sleep(0.3)
        assert await _drain(events, quiet_s=0.1) == []
        for node in (a, b):
            assert await node.alarms() == []
    # gone for real: the alarm comes, once
    raised = await _wait_for(events, "alarm.raised")
    assert raised.data["kind"] == "offline"
    assert await _drain(events) == []


def test_two_nodes_rules_name_the_same_occurrence_and_a_station_heard_from_is_not_offline() -> None:
    thresholds = Thresholds.from_settings(AppSettings(heartbeat_s=60, alarm_offline_heartbeats=3))
    t0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    fault = Event("connector.status", "FG-1", {"connector_id": 1, "vendor_error_code": "FG_HEATER"}, time=t0)
    gone = Event("station.disconnected", "FG-2", time=t0)
    node_a, node_b = AlarmRules(thresholds), AlarmRules(thresholds)

    # node B hears of the fault later, and ticks at other moments: the raises still match
    raised_a = node_a.on_event(fault) + node_a.on_event(gone) + node_a.tick(t0 + timedelta(minutes=3))
    raised_b = (
        node_b.on_event(fault) + node_b.on_event(gone) + node_b.tick(t0 + timedelta(minutes=4, seconds=7))
    )
    assert (
        [(d.kind, d.at) for d in raised_a]
        == [(d.kind, d.at) for d in raised_b]
        == [
            ("heater_fault", t0),
            ("offline", t0 + timedelta(minutes=3)),
        ]
    )

    # a station counted absent from a node's start, yet heard from since (on another node)
    node_c = AlarmRules(thresholds)
    node_c.watch_offline("FG-3", t0)
    assert node_c.due_offline(t0 + timedelta(minutes=3)) == ["FG-3"]
    node_c.heard_from("FG-3", t0 + timedelta(minutes=2))
    assert node_c.due_offline(t0 + timedelta(minutes=3)) == []
    assert node_c.tick(t0 + timedelta(minutes=3)) == []
    assert [d.kind for d in node_c.tick(t0 + timedelta(minutes=5))] == ["offline"]
