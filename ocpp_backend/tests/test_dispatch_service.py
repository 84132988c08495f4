"""The fleet dispatcher in the backend: orders → profiles at the stations, re-allocation, resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.orders import Order
from gateway.tests.factory import next_boundary, order_message
from ocpp_backend.backend import Backend
from ocpp_backend.bus import Event
from ocpp_backend.dispatch.models import DispatchOrder, GroupInterval
from ocpp_backend.dispatch.service import Dispatcher
from ocpp_backend.tests.conftest import PASSWORD, register, test_settings
from ocpp_backend.tests.dispatch_station import ProfileStation, profile_station
from ocpp_backend.timeutil import utc_now

GROUP = "feeder-7"
STATIONS = ("V2G-1", "V2G-2")


class Clock:
    """The dispatcher's time, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def dispatch_backend(url: str, clock: Clock, fresh: bool = True) -> AsyncIterator[Backend]:
    """A backend whose dispatcher runs only when the test calls ``step`` (virtual time)."""
    backend = Backend(test_settings(url))
    backend.dispatcher = Dispatcher(backend.services, step_s=60.0, clock=clock, auto=False)
    await backend.start()
    try:
        if fresh:
            for station_id in STATIONS:
                await register(backend, station_id, PASSWORD)
            await backend.services.id_tokens.put("TAG-OK")
            await backend.dispatcher.add_group(GROUP, STATIONS, charge_kw=7.0, discharge_kw=6.0)
        yield backend
    finally:
        await backend.stop()


async def until(check: Callable[[], Any], timeout_s: float = 5.0) -> None:
    """Wait for the dispatcher to have taken in what the bus said."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def order(start: datetime, targets: list[float], **extra: Any) -> Order:
    return Order.model_validate(
        order_message(start - timedelta(minutes=1), targets, start=start, **{"group": GROUP, **extra})
    )


async def plugged(backend: Backend, *stations: ProfileStation) -> None:
    for cp in stations:
        await cp.plug_in()
    await until(lambda: all(backend.dispatcher.stations[cp.id].transaction_id for cp in stations))


async def test_an_order_for_an_unknown_group_is_rejected_naming_the_group_and_not_stored(
    sqlite_url: str,
) -> None:
    clock = Clock(next_boundary(utc_now()))
    async with dispatch_backend(sqlite_url, clock) as backend:
        ack = await backend.dispatcher.submit(order(clock.now, [10.0], group="nowhere"))
        async with backend.db.session() as session:
            stored = (await session.scalars(select(DispatchOrder))).all()
    assert (ack.stage, ack.field) == ("rejected", "group")
    assert stored == []


async def test_an_export_target_discharges_only_the_station_that_can_discharge(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start - timedelta(minutes=2))
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD, discharge=True) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as b,
        ):
            await plugged(backend, a, b)
            acks = backend.bus.subscribe(["dispatch.ack"])
            ack = await backend.dispatcher.submit(order(start, [-4.0, -4.0]))
            clock.now = start
            await backend.dispatcher.step(clock.now)
            stages = [(await acks.get(1)).data["stage"] for _ in range(2)]
    assert ack.stage == "accepted" and ack.committed_kw == [-4.0, -4.0]
    assert stages == ["accepted", "started"]
    assert a.limits_w == [-4000.0]
    assert b.limits_w == [0.0]


async def test_a_target_beyond_the_fleet_is_acknowledged_partial_with_the_committed_power(
    sqlite_url: str,
) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start - timedelta(minutes=2))
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as b,
        ):
            await plugged(backend, a, b)
            ack = await backend.dispatcher.submit(order(start, [10.0, -50.0]))
    assert ack.stage == "partial"
    assert ack.committed_kw == [10.0, 0.0]  # no station may discharge: export becomes 0 kW


async def test_a_station_going_offline_mid_order_hands_its_share_to_the_others(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a:
            async with profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as b:
                await plugged(backend, a, b)
                await backend.dispatcher.submit(order(start, [8.0, 8.0]))
                await backend.dispatcher.step(clock.now)
                shared = (a.limits_w[-1], b.limits_w[-1])
            await until(lambda: not backend.dispatcher.stations["V2G-2"].connected)
            clock.now += timedelta(seconds=60)
            await backend.dispatcher.step(clock.now)
    assert shared == (4000.0, 4000.0)
    assert a.limits_w[-1] == 7000.0  # all it can take; the rest is lost with the offline station


async def test_a_refused_profile_is_reallocated_to_the_stations_that_accept(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD, refuse=True) as b,
        ):
            await plugged(backend, a, b)
            await backend.dispatcher.submit(order(start, [6.0]))
            await backend.dispatcher.step(clock.now)
    assert b.limits_w == []
    assert a.limits_w[-1] == 6000.0


async def test_a_restarted_backend_resumes_the_order_and_drives_the_stations_again(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start - timedelta(minutes=1))
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a:
            await plugged(backend, a)
            await backend.dispatcher.submit(order(start, [5.0, 5.0, 5.0]))
            clock.now = start
            await backend.dispatcher.step(clock.now)
            assert a.limits_w == [5000.0]
    clock.now = start + timedelta(minutes=15)
    async with dispatch_backend(sqlite_url, clock, fresh=False) as again:
        assert list(again.dispatcher.orders) == ["ORD-1"]
        assert again.dispatcher.orders["ORD-1"].state == "started"
        async with profile_station(again.ocpp_url, "V2G-1", PASSWORD) as a2:
            await until(lambda: again.dispatcher.stations["V2G-1"].connected)
            await again.dispatcher.step(clock.now)
    assert a2.limits_w and a2.limits_w[-1] == 5000.0


async def test_a_cancel_clears_the_profiles_and_is_acknowledged(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a:
            await plugged(backend, a)
            await backend.dispatcher.submit(order(start, [3.0, 3.0]))
            await backend.dispatcher.step(clock.now)
            acks = backend.bus.subscribe(["dispatch.ack"])
            await backend.bus.publish(Event("dispatch.cancel", "", {"order_id": "ORD-1", "party": "grid-a"}))
            ack = await acks.get(5)
            await until(lambda: a.cleared == 1)
        async with backend.db.session() as session:
            state = (await session.get(DispatchOrder, "ORD-1")).state
    assert ack.data["stage"] == "cancelled"
    assert state == "cancelled" and backend.dispatcher.orders == {}


async def test_an_emergency_zero_order_stops_every_station_even_against_departure_needs(
    sqlite_url: str,
) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as b,
        ):
            await plugged(backend, a, b)
            # V2G-1's EV must leave in 20 minutes with far more energy than it has.
            await backend.dispatcher.set_needs(
                "V2G-1", departure=start + timedelta(minutes=20), soc_pct=10.0, required_soc_pct=90.0
            )
            await backend.dispatcher.submit(order(start, [7.0, 7.0]))
            await backend.dispatcher.step(clock.now)
            assert a.limits_w[-1] == 7000.0  # a normal order cannot take its power
            ack = await backend.dispatcher.submit(
                order(start, [0.0], order_id="EMERG-1", priority="emergency")
            )
            clock.now += timedelta(seconds=30)
            await backend.dispatcher.step(clock.now)
    assert ack.stage == "accepted"
    assert (a.limits_w[-1], b.limits_w[-1]) == (0.0, 0.0)
    # the 0 W is a cap of the whole station (connector 0), not a profile of the running session
    assert a.profiles[-1][:2] == b.profiles[-1][:2] == (0, "ChargePointMaxProfile")
    assert "ORD-1" not in backend.dispatcher.orders


async def test_an_emergency_zero_caps_stations_without_a_session_and_its_cancel_lifts_the_cap(
    sqlite_url: str,
) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as idle,
        ):
            await plugged(backend, a)
            await until(lambda: backend.dispatcher.stations["V2G-2"].connected)
            emergency = order(start, [0.0, 0.0], order_id="EMERG-2", priority="emergency")
            await backend.dispatcher.submit(emergency)
            await backend.dispatcher.step(clock.now)
            capped = (list(a.profiles), list(idle.profiles))
            # an EV that plugs in during the emergency is already held at 0 W: nothing new is sent
            await idle.plug_in()
            await until(lambda: backend.dispatcher.stations["V2G-2"].transaction_id is not None)
            clock.now += timedelta(seconds=30)
            await backend.dispatcher.step(clock.now)
            after_plug_in = len(idle.profiles)
            assert await backend.dispatcher.cancel("EMERG-2")
            await until(lambda: 4712 in a.cleared_ids and 4712 in idle.cleared_ids)
    assert [p[:2] + (p[3],) for p in capped[0]] == [(0, "ChargePointMaxProfile", 0.0)]
    assert [p[:2] + (p[3],) for p in capped[1]] == [(0, "ChargePointMaxProfile", 0.0)]
    assert after_plug_in == 1


async def test_each_settlement_interval_is_verified_against_the_meter_readings(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a:
            await plugged(backend, a)
            verifications = backend.bus.subscribe(["dispatch.verification"])
            await backend.dispatcher.submit(order(start, [4.0]))
            await backend.dispatcher.step(clock.now)
            # Readings carry the station's real time: the dispatcher files them under the
            # interval that holds that time, so the test fixes it to the order's interval.
            real_interval = backend.dispatcher.group_kwh
            await a.meter(1000.0, power_w=4000.0)
            await a.meter(1950.0, power_w=4000.0)
            await until(lambda: sum(real_interval.values()) > 0.9)
            [(group, when)] = list(real_interval)
            real_interval[(group, start)] = real_interval.pop((group, when))
            clock.now = start + timedelta(minutes=15, seconds=1)
            await backend.dispatcher.step(clock.now)
            message = (await verifications.get(2)).data
            async with backend.db.session() as session:
                row = await session.get(GroupInterval, (GROUP, start))
    assert message["delivered_kwh"] == 0.95
    assert message["target_kwh"] == 1.0
    assert message["within_tolerance"] is True  # tolerance 1 kW -> 0.25 kWh
    assert row.energy_kwh == 0.95 and row.order_id == "ORD-1"


async def test_the_baseline_is_the_mean_of_the_same_hour_on_previous_days_without_orders(
    sqlite_url: str,
) -> None:
    clock = Clock(next_boundary(utc_now()))
    start = clock.now.replace(minute=30)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with backend.db.session() as session:
            for days, energy, order_id in [
                (1, 2.0, None),
                (2, 4.0, None),
                (3, 100.0, "OLD"),
                (11, 50.0, None),
            ]:
                session.add(
                    GroupInterval(
                        group_id=GROUP,
                        start=start - timedelta(days=days),
                        energy_kwh=energy,
                        order_id=order_id,
                        verified=False,
                    )
                )
            session.add(
                GroupInterval(
                    group_id=GROUP, start=start - timedelta(days=1, hours=1), energy_kwh=9.0, verified=False
                )
            )
        baseline = await backend.dispatcher.baseline_kwh(GROUP, start)
    assert baseline == 3.0


async def test_telemetry_reports_connected_evs_their_measured_soc_and_flexibility(sqlite_url: str) -> None:
    clock = Clock(next_boundary(utc_now()))
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with (
            profile_station(backend.ocpp_url, "V2G-1", PASSWORD, discharge=True) as a,
            profile_station(backend.ocpp_url, "V2G-2", PASSWORD) as b,
        ):
            await plugged(backend, a, b)
            await a.meter(100.0, power_w=3000.0, soc_pct=60.0)
            await b.meter(100.0, power_w=4000.0, soc_pct=40.0)
            await until(lambda: backend.dispatcher.stations["V2G-2"].soc_pct == 40.0)
            telemetry = backend.bus.subscribe(["dispatch.telemetry"])
            await backend.dispatcher.step(clock.now)
            message = (await telemetry.get(2)).data
    assert (message["group"], message["evs_connected"]) == (GROUP, 2)
    assert message["import_kw"] == 7.0 and message["export_kw"] == 0.0
    assert message["mean_soc_pct"] == 50.0
    first_hour = message["flexibility"][0]
    assert first_hour["up_kw"] == 7.0  # 2 x 7 kW possible, 7 kW drawn
    assert first_hour["down_kw"] == 13.0  # both can stop (7 kW) and V2G-1 can export 6 kW


async def test_the_smart_charging_commands_carry_a_signed_limit_in_watts(sqlite_url: str) -> None:
    clock = Clock(next_boundary(utc_now()))
    async with dispatch_backend(sqlite_url, clock) as backend:
        commands = backend.services.commands
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD, discharge=True) as cp:
            profile = {
                "charging_profile_id": 7,
                "stack_level": 1,
                "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": {
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0, "limit": -2500.0}],
                },
            }
            set_answer = await commands.set_charging_profile("V2G-1", 1, profile)
            composite = await commands.get_composite_schedule("V2G-1", 1, 900, "W")
            clear_answer = await commands.clear_charging_profile("V2G-1", profile_id=7)
    assert set_answer == {"status": "Accepted"} and clear_answer == {"status": "Accepted"}
    assert cp.limits_w == [-2500.0] and cp.cleared == 1
    assert composite["charging_schedule"]["charging_schedule_period"][0]["limit"] == -2500.0
    assert (
        "GetCompositeSchedule",
        {"connector_id": 1, "duration": 900, "charging_rate_unit": "W"},
    ) in cp.received


async def test_a_relative_order_moves_the_group_from_its_baseline(sqlite_url: str) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start)
    async with dispatch_backend(sqlite_url, clock) as backend:
        async with backend.db.session() as session:
            for days in (1, 2):  # the group drew 6 kW at this hour on the previous days
                session.add(
                    GroupInterval(
                        group_id=GROUP, start=start - timedelta(days=days), energy_kwh=1.5, verified=False
                    )
                )
        async with profile_station(backend.ocpp_url, "V2G-1", PASSWORD) as a:
            await plugged(backend, a)
            ack = await backend.dispatcher.submit(order(start, [-2.0], mode="relative"))
            await backend.dispatcher.step(clock.now)
    assert ack.committed_kw == [4.0]
    assert a.limits_w == [4000.0]


async def test_an_interval_without_readings_is_kept_as_zero_history_only_if_watched_whole(
    sqlite_url: str,
) -> None:
    start = next_boundary(utc_now())
    clock = Clock(start + timedelta(minutes=5))  # the backend starts 5 minutes into an interval
    async with dispatch_backend(sqlite_url, clock) as backend:
        clock.now = start + timedelta(minutes=15, seconds=1)
        await backend.dispatcher.step(clock.now)  # the first interval was watched only in part
        clock.now = start + timedelta(minutes=30, seconds=1)
        await backend.dispatcher.step(clock.now)
        async with backend.db.session() as session:
            rows = (await session.scalars(select(GroupInterval))).all()
    assert [(r.group_id, r.start, r.energy_kwh) for r in rows] == [
        (GROUP, start + timedelta(minutes=15), 0.0)
    ]
