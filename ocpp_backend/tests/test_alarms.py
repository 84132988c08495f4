"""Alarms, driven by a CPython charge point sending what the firmware sends (docs/interfaces.md §1.6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.v16 import call

from ocpp_backend.backend import Backend
from ocpp_backend.bus import Event, Subscription
from ocpp_backend.services.alarms import AlarmRules, Clear, Raise, Thresholds
from ocpp_backend.settings import Settings as AppSettings
from ocpp_backend.tests.chargepoint import SimChargePoint, open_station
from ocpp_backend.tests.conftest import PASSWORD, BackendFactory

FAST = {
    "heartbeat_s": 1,
    "alarm_offline_heartbeats": 1.0,
    "alarm_cold_interlock_s": 0.6,
    "alarm_crash_loop_boots": 2,
    "alarm_crash_loop_window_s": 1.5,
    "alarm_journal_backlog_records": 100,
    "alarm_tick_s": 0.05,
}


@pytest.fixture
async def alarm_backend(db_url: str, make_backend: BackendFactory) -> AsyncIterator[Backend]:
    """A backend with short alarm thresholds, on SQLite and on PostgreSQL."""
    async with make_backend(db_url, stations={"CP-1": PASSWORD, "CP-2": PASSWORD}, **FAST) as started:
        yield started


@pytest.fixture
def alarm_events(alarm_backend: Backend) -> Subscription:
    """Alarm events published on the bus from now on."""
    return alarm_backend.bus.subscribe(["alarm.raised", "alarm.cleared", "alarm.acked"])


async def _next(events: Subscription, timeout_s: float = 10.0) -> Event:
    return await events.get(timeout_s)


async def _status(cp: SimChargePoint, connector: int, status: str, code: str | None = None) -> None:
    fault = code not in (None, "FG_COLD")
    await cp.call(
        call.StatusNotification(
            connector_id=connector,
            error_code="OtherError" if fault else "NoError",
            status="Faulted" if fault else status,
            info=f"{code} zone=electronics" if code else None,
            vendor_id="Frostgrid" if code else None,
            vendor_error_code=code,
        )
    )


@pytest.mark.parametrize(
    ("code", "kind", "severity"),
    [
        ("FG_HEATER", "heater_fault", "major"),
        ("FG_SENSOR", "sensor_fault", "major"),
        ("FG_OVERTEMP", "over_temperature", "critical"),
        ("FG_METER", "meter_fault", "major"),
    ],
)
async def test_a_fault_code_raises_its_alarm_at_once_and_a_clean_report_clears_it(
    alarm_backend: Backend, alarm_events: Subscription, code: str, kind: str, severity: str
) -> None:
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await _status(cp, 1, "Available", code)
        raised = await _next(alarm_events)
        assert (raised.kind, raised.station_id) == ("alarm.raised", "CP-1")
        assert (raised.data["kind"], raised.data["severity"], raised.data["connector_id"]) == (
            kind,
            severity,
            1,
        )
        # The same fault reported again (a status change while it lasts) raises nothing new.
        await _status(cp, 1, "Unavailable", code)
        await _status(cp, 1, "Available")
        cleared = await _next(alarm_events)
    assert (cleared.kind, cleared.data["id"]) == ("alarm.cleared", raised.data["id"])
    rows, total = await alarm_backend.services.alarms.list(station_id="CP-1")
    assert total == 1
    assert rows[0].kind == kind and rows[0].cleared_at is not None and rows[0].clear_reason


async def test_cold_interlock_is_an_alarm_only_when_it_lasts_longer_than_the_threshold(
    alarm_backend: Backend, alarm_events: Subscription
) -> None:
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await _status(cp, 1, "Preparing", "FG_COLD")
        await asyncio.sleep(0.2)  # released well before 0.6 s
        await _status(cp, 1, "Preparing")
        with pytest.raises(TimeoutError):
            await _next(alarm_events, timeout_s=1.0)
        await _status(cp, 1, "Unavailable", "FG_COLD")
        # A status change that keeps the interlock does not restart its clock.
        await asyncio.sleep(0.3)
        await _status(cp, 1, "Preparing", "FG_COLD")
        loop = asyncio.get_running_loop()
        started = loop.time()
        raised = await _next(alarm_events)
        assert loop.time() - started < 0.6
        assert (raised.kind, raised.data["kind"], raised.data["severity"]) == (
            "alarm.raised",
            "cold_interlock_long",
            "minor",
        )
        await _status(cp, 1, "Charging")
        cleared = await _next(alarm_events)
    assert (cleared.kind, cleared.data["kind"]) == ("alarm.cleared", "cold_interlock_long")


async def test_offline_alarm_after_n_heartbeats_without_a_connection_and_cleared_on_reconnect(
    alarm_backend: Backend, alarm_events: Subscription
) -> None:
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD):
        # Connected for longer than the offline threshold: no alarm.
        with pytest.raises(TimeoutError):
            await _next(alarm_events, timeout_s=1.5)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    raised = await _next(alarm_events)
    assert loop.time() - gone >= 0.9  # one heartbeat interval of 1 s
    assert (raised.kind, raised.station_id, raised.data["kind"], raised.data["connector_id"]) == (
        "alarm.raised",
        "CP-1",
        "offline",
        -1,
    )
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD):
        cleared = await _next(alarm_events)
    assert (cleared.kind, cleared.data["kind"], cleared.data["clear_reason"]) == (
        "alarm.cleared",
        "offline",
        "connected",
    )


async def test_repeated_boots_are_a_crash_loop_until_a_quiet_window(
    alarm_backend: Backend, alarm_events: Subscription
) -> None:
    boot = call.BootNotification(charge_point_vendor="Frostgrid", charge_point_model="AC7-sim")
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(boot)
        await cp.call(boot)  # two boots: at the limit, not above it
        with pytest.raises(TimeoutError):
            await _next(alarm_events, timeout_s=0.3)
        await cp.call(boot)
        raised = await _next(alarm_events)
        assert (raised.data["kind"], raised.data["severity"]) == ("crash_loop", "major")
        assert "3 boots" in raised.data["message"]
        cleared = await _next(alarm_events, timeout_s=5)
    assert (cleared.kind, cleared.data["kind"]) == ("alarm.cleared", "crash_loop")


async def test_a_journal_backlog_report_raises_and_a_smaller_one_clears(
    alarm_backend: Backend, alarm_events: Subscription
) -> None:
    def report(n: int) -> call.DataTransfer:
        return call.DataTransfer(vendor_id="Frostgrid", message_id="Journal", data=json.dumps({"n": n}))

    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        assert (await cp.call(report(99))).status == "Accepted"
        with pytest.raises(TimeoutError):
            await _next(alarm_events, timeout_s=0.3)
        await cp.call(report(150))
        raised = await _next(alarm_events)
        assert (raised.data["kind"], raised.data["message"]) == (
            "journal_backlog",
            "150 journal records unsent",
        )
        await cp.call(report(12))
        cleared = await _next(alarm_events)
    assert (cleared.kind, cleared.data["kind"]) == ("alarm.cleared", "journal_backlog")


async def test_codes_of_another_vendor_raise_nothing(
    alarm_backend: Backend, alarm_events: Subscription
) -> None:
    async with open_station(alarm_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code="OtherError",
                status="Faulted",
                vendor_id="com.example",
                vendor_error_code="FG_HEATER",
            )
        )
        with pytest.raises(TimeoutError):
            await _next(alarm_events, timeout_s=0.5)


async def test_open_alarms_survive_a_restart_and_clear_after_it(
    sqlite_url: str, make_backend: BackendFactory
) -> None:
    async with make_backend(sqlite_url, stations={"CP-1": PASSWORD}, **FAST) as backend:
        events = backend.bus.subscribe(["alarm.raised"])
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            await _status(cp, 1, "Available", "FG_SENSOR")
            assert (await _next(events)).data["kind"] == "sensor_fault"
    async with make_backend(sqlite_url, **FAST) as backend:
        events = backend.bus.subscribe(["alarm.cleared"])
        still_open = (await backend.services.alarms.list(open_=True))[0]
        assert "sensor_fault" in {a.kind for a in still_open}
        metrics = backend.services.metrics.render().decode()
        assert 'frostgrid_alarms_open{kind="sensor_fault"} 1.0' in metrics
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            await _status(cp, 1, "Available")
            cleared = await _next(events)
            if cleared.data["kind"] == "offline":  # the restart took longer than the offline threshold
                cleared = await _next(events)
        assert cleared.data["kind"] == "sensor_fault"
        metrics = backend.services.metrics.render().decode()
        assert 'frostgrid_alarms_open{kind="sensor_fault"} 0.0' in metrics


async def test_alarms_are_listed_with_filters_and_acknowledged_with_a_comment(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp1:
        async with open_station(api_backend.ocpp_url, "CP-2", PASSWORD) as cp2:
            events = api_backend.bus.subscribe(["alarm.raised", "alarm.cleared", "alarm.acked"])
            await _status(cp1, 1, "Available", "FG_HEATER")
            await _status(cp2, 0, "Available", "FG_OVERTEMP")
            await _status(cp2, 1, "Available", "FG_METER")
            for _ in range(3):
                await _next(events)
            await _status(cp2, 1, "Available")
            await _next(events)

    everything = await api.get("/alarms")
    assert everything.status_code == 200 and everything.headers["X-Total-Count"] == "3"
    assert [(a["station_id"], a["kind"], a["open"]) for a in everything.json()] == [
        ("CP-2", "meter_fault", False),
        ("CP-2", "over_temperature", True),
        ("CP-1", "heater_fault", True),
    ]
    open_cp2 = (await api.get("/alarms", params={"open": "true", "station_id": "CP-2"})).json()
    assert [a["kind"] for a in open_cp2] == ["over_temperature"]
    by_kind = (await api.get("/alarms", params={"kind": "heater_fault"})).json()
    assert [a["station_id"] for a in by_kind] == ["CP-1"]
    page = await api.get("/alarms", params={"limit": 1, "offset": 1})
    assert [a["kind"] for a in page.json()] == ["over_temperature"] and page.headers["X-Total-Count"] == "3"
    assert (await api.get("/alarms", params={"kind": "nonsense"})).status_code == 422

    alarm_id = by_kind[0]["id"]
    acked = await api.post(f"/alarms/{alarm_id}/ack", json={"comment": "heater relay replaced"})
    assert acked.status_code == 200
    body = acked.json()
    assert (body["acked_by"], body["comment"], body["open"]) == ("tests", "heater relay replaced", True)
    assert body["acked_at"] is not None
    published = await _next(events)
    assert (published.kind, published.data["id"], published.data["comment"]) == (
        "alarm.acked",
        alarm_id,
        "heater relay replaced",
    )
    assert (await api.post(f"/alarms/{alarm_id}/ack", json={"comment": "again"})).status_code == 409
    assert (await api.post("/alarms/999999/ack", json={"comment": "x"})).status_code == 404
    assert (await api.get(f"/alarms/{alarm_id}")).json()["comment"] == "heater relay replaced"


def test_rules_raise_and_clear_each_condition_once_in_virtual_time() -> None:
    """The pure core with a virtual clock: a winter night of events in microseconds."""
    t0 = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
    rules = AlarmRules(
        Thresholds(
            offline_after=timedelta(minutes=15),
            cold_after=timedelta(minutes=30),
            backlog_records=200,
            crash_boots=3,
            crash_window=timedelta(minutes=10),
        )
    )

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    def status(minutes: float, code: str | None, connector: int = 1) -> list:
        data = {
            "connector_id": connector,
            "vendor_id": "Frostgrid" if code else None,
            "vendor_error_code": code,
        }
        return rules.on_event(Event("connector.status", "FG-1", data, time=at(minutes)))

    assert status(0, "FG_COLD") == []
    assert rules.tick(at(29)) == []
    assert rules.tick(at(30)) == [
        Raise("FG-1", "cold_interlock_long", 1, f"cold interlock since {t0.isoformat()}")
    ]
    assert rules.tick(at(45)) == []  # raised once
    assert status(50, None) == [Clear("FG-1", "cold_interlock_long", 1, "cold interlock released")]
    assert rules.on_event(Event("station.disconnected", "FG-1", time=at(60))) == []
    assert rules.tick(at(74)) == []
    assert [d.kind for d in rules.tick(at(75))] == ["offline"]
    assert [(type(d), d.kind) for d in rules.on_event(Event("station.connected", "FG-1", time=at(80)))] == [
        (Clear, "offline")
    ]
    boots = [rules.on_event(Event("station.boot", "FG-1", time=at(80 + m))) for m in (0, 4, 8, 12)]
    assert boots == [[], [], [], []]  # never more than 3 within 10 minutes
    assert [d.kind for d in rules.on_event(Event("station.boot", "FG-1", time=at(93)))] == ["crash_loop"]
    assert rules.tick(at(102)) == []
    assert [d.kind for d in rules.tick(at(104))] == ["crash_loop"]
    removed = rules.on_event(Event("station.removed", "FG-1", time=at(110)))
    assert removed == [] and not rules.open


_STEPS = st.one_of(
    st.tuples(
        st.just("status"), st.integers(0, 2), st.sampled_from([None, "FG_COLD", "FG_HEATER", "FG_METER"])
    ),
    st.tuples(st.just("connected"), st.none(), st.none()),
    st.tuples(st.just("disconnected"), st.none(), st.none()),
    st.tuples(st.just("boot"), st.none(), st.none()),
    st.tuples(st.just("journal"), st.integers(0, 400), st.none()),
    st.tuples(st.just("tick"), st.none(), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 900), _STEPS), max_size=60))
def test_rules_alternate_raise_and_clear_per_condition_and_track_the_open_set(steps: list) -> None:
    rules = AlarmRules(
        Thresholds(
            offline_after=timedelta(seconds=300),
            cold_after=timedelta(seconds=600),
            backlog_records=200,
            crash_boots=3,
            crash_window=timedelta(seconds=600),
        )
    )
    now = datetime(2026, 1, 15, tzinfo=UTC)
    state: dict[tuple, bool] = {}  # key -> open, as the decisions say
    for advance_s, (what, arg, code) in steps:
        now += timedelta(seconds=advance_s)
        if what == "status":
            data = {
                "connector_id": arg,
                "vendor_id": "Frostgrid" if code else None,
                "vendor_error_code": code,
            }
            decisions = rules.on_event(Event("connector.status", "FG-1", data, time=now))
        elif what == "journal":
            data = {
                "action": "DataTransfer",
                "vendor_id": "Frostgrid",
                "message_id": "Journal",
                "data": f'{{"n":{arg}}}',
            }
            decisions = rules.on_event(Event("station.notification", "FG-1", data, time=now))
        elif what == "tick":
            decisions = rules.tick(now)
        else:
            decisions = rules.on_event(Event(f"station.{what}", "FG-1", time=now))
        for decision in decisions:
            assert isinstance(decision, (Raise, Clear))
            # A raise only for a closed condition, a clear only for an open one.
            assert state.get(decision.key, False) is isinstance(decision, Clear)
            state[decision.key] = isinstance(decision, Raise)
        if what == "connected":
            assert not state.get(("FG-1", "offline", -1), False)
    assert rules.open == {key for key, is_open in state.items() if is_open}


def test_thresholds_come_from_settings_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROSTGRID_ALARM_OFFLINE_HEARTBEATS", "2.5")
    monkeypatch.setenv("FROSTGRID_ALARM_COLD_INTERLOCK_S", "900")
    monkeypatch.setenv("FROSTGRID_ALARM_CRASH_LOOP_BOOTS", "5")
    thresholds = Thresholds.from_settings(AppSettings(heartbeat_s=120))
    assert thresholds.offline_after == timedelta(seconds=300)  # 2.5 heartbeats of 120 s
    assert thresholds.cold_after == timedelta(seconds=900)
    assert (thresholds.crash_boots, thresholds.backlog_records) == (5, 200)
    monkeypatch.setenv("FROSTGRID_ALARM_CRASH_LOOP_BOOTS", "many")
    with pytest.raises(ValueError, match="FROSTGRID_ALARM_CRASH_LOOP_BOOTS"):
        AppSettings()
