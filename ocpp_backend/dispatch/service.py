"""The fleet dispatcher: grid orders in, per-session charging profiles out, verified response.

The shell around the pure allocator (``allocator.py``). It keeps, per station of a dispatch group,
what the bus says (connection, session, meter registers, SoC, power), re-allocates each group with
an active order every ``step_s`` and at once on an event (plug-in, plug-out, station offline,
profile refused), sends each station its share as an OCPP 1.6 ``SetChargingProfile`` (TxProfile,
unit W, one period; negative W = discharge, only for stations whose read-only configuration key
``FrostgridDischargeCapable`` is ``true``), and at each settlement interval's end publishes the
verification. Orders and their progress are in the store: a restarted backend resumes them.

Grid side: orders arrive as bus events ``dispatch.order`` / ``dispatch.cancel`` (from the gateway or
the REST API); acks, telemetry and verifications leave as ``dispatch.ack`` /
``dispatch.telemetry`` / ``dispatch.verification`` with the gateway's message shapes as data and
the group id as ``station_id``.

Baseline (used for relative orders and for verification): the mean measured energy of the group
in the same clock hour (UTC) over the previous ``BASELINE_DAYS`` days, counting only intervals
without an order; without such history, the mean of the last four undispatched intervals before
the interval; without any, 0 kWh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from gateway.orders import INTERVAL_S, Ack, Flexibility, Order, Telemetry, Verification
from ocpp_backend.bus import Command, CommandError, Event
from ocpp_backend.dispatch.allocator import EvState, Fleet, allocate, step_target_kw, windows
from ocpp_backend.dispatch.models import DispatchGroup, DispatchOrder, EvNeed, GroupInterval, GroupStation
from ocpp_backend.models import Station
from ocpp_backend.services import Services
from ocpp_backend.timeutil import format_ocpp_time, parse_ocpp_time, utc_now

LOG = logging.getLogger(__name__)
PROFILE_ID = 4711  # the dispatcher's TxProfile id on every station (replaced on each send)
PROFILE_STACK = 2  # above a TxDefaultProfile's usual levels
# An emergency "group to 0 kW" caps every connected station of the group with a 0 W
# ChargePointMaxProfile on connector 0 instead: it holds for sessions that start during the
# emergency too, and bounds discharge as well (docs/v2g.md).
CAP_PROFILE_ID = 4712
# Schedules start this long before they are sent: a station whose clock runs a second behind
# would otherwise hold a profile that does not apply yet (and charge on meanwhile).
SCHEDULE_LEAD = timedelta(seconds=60)
DISCHARGE_KEY = "FrostgridDischargeCapable"
BASELINE_DAYS = 10
ETA = 0.92  # charge efficiency assumed when the EV's SoC must be estimated from energy
LIVE_STATES = ("accepted", "partial", "started")
EVENT_KINDS = (
    "dispatch.order",
    "dispatch.cancel",
    "station.connected",
    "station.disconnected",
    "session.started",
    "session.stopped",
    "meter.readings",
)


def interval_start(t: datetime) -> datetime:
    """The start of the 15-minute interval holding ``t``."""
    t = t.astimezone(UTC)
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


@dataclass
class StationState:
    """What the dispatcher knows about one station of a group (from bus events and the store)."""

    station_id: str
    group_id: str
    defaults: GroupStation
    connected: bool = False
    connector_id: int = 1
    transaction_id: int | None = None
    session_start: datetime | None = None
    session_wh: float = 0.0  # net energy since the session started
    net_wh: float | None = None  # last import register minus export register
    power_w: float = 0.0  # last net power reading
    soc_pct: float | None = None  # last SoC reading, if the station has the measurand
    discharge_capable: bool | None = None  # None: not asked yet
    setpoint_w: int | None = None  # last profile limit the station accepted
    valid_until: datetime | None = None  # ...and until when it holds
    refused: bool = False  # the station refused a profile this interval: left out until the next
    capped_until: datetime | None = None  # the emergency 0 W cap the station accepted, valid until


@dataclass
class LiveOrder:
    """An order being carried out."""

    order: Order
    state: str  # accepted | partial | started
    committed_kw: list[float]
    since: datetime | None = None  # when this process took the order on (resumed or received)
    verified: set[datetime] = field(default_factory=set)  # interval starts already verified


class Dispatcher:
    """Start with ``await dispatcher.start()``; ``step(now)`` runs one allocation round (the loop
    calls it; tests may call it directly with ``auto=False``)."""

    def __init__(
        self,
        services: Services,
        step_s: float = 60.0,
        telemetry_s: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
        auto: bool = True,
        max_in_flight: int = 1000,
    ) -> None:
        self.services = services
        self.bus = services.bus
        self.db = services.db
        self.step_s = step_s
        self.telemetry_s = telemetry_s
        self.clock = clock
        self.auto = auto
        self.stations: dict[str, StationState] = {}
        self.orders: dict[str, LiveOrder] = {}  # by order id
        self.group_kwh: dict[tuple[str, datetime], float] = {}  # measured energy per open interval
        self.profiles_sent = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Any = None
        self._last_telemetry: datetime | None = None
        self._lock = asyncio.Lock()
        self._needs: dict[str, EvNeed] = {}  # by station, for the current sessions
        self._interval_of: dict[str, datetime] = {}  # group -> interval of its last allocation
        self._in_flight = asyncio.Semaphore(max_in_flight)  # commands of a fan-out sent at once
        self._running_since: datetime | None = None  # when start() ran (clock time)
        self._recorded: datetime | None = None  # last interval recorded for every group

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load groups and live orders from the store, follow the bus, start the loop."""
        self._subscription = self.bus.subscribe(EVENT_KINDS, max_queue=100_000)
        self._running_since = self.clock()
        await self.reload_groups()
        await self._resume_orders()
        self._tasks.append(asyncio.create_task(self._follow_bus(), name="dispatch-events"))
        if self.auto:
            self._tasks.append(asyncio.create_task(self._loop(), name="dispatch-loop"))

    async def stop(self) -> None:
        """Stop the tasks (orders stay in the store and resume at the next start)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._subscription is not None:
            self._subscription.close()

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            to_boundary = (interval_start(now) + timedelta(seconds=INTERVAL_S) - now).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(self.step_s, to_boundary + 0.2))
            self._wake.clear()
            try:
                await self.step(self.clock())
            except Exception:  # the loop must outlive one bad round
                LOG.exception("dispatch round failed")

    # -- groups and needs -------------------------------------------------------------------

    async def add_group(
        self, group_id: str, stations: Iterable[str], description: str | None = None, **defaults: float
    ) -> None:
        """Create or update a group and put ``stations`` in it (a station is in one group)."""
        async with self.db.session() as session:
            group = await session.get(DispatchGroup, group_id)
            if group is None:
                session.add(DispatchGroup(id=group_id, description=description))
            elif description is not None:
                group.description = description
            await session.flush()
            for station_id in stations:
                row = await session.get(GroupStation, station_id)
                if row is None:
                    row = GroupStation(station_id=station_id, group_id=group_id)
                    session.add(row)
                row.group_id = group_id
                for key, value in defaults.items():
                    setattr(row, key, value)
        await self.reload_groups()

    async def remove_group(self, group_id: str) -> None:
        """Delete a group (its stations leave it)."""
        async with self.db.session() as session:
            await session.execute(delete(GroupStation).where(GroupStation.group_id == group_id))
            await session.execute(delete(DispatchGroup).where(DispatchGroup.id == group_id))
        await self.reload_groups()

    async def groups(self) -> dict[str, list[str]]:
        """Group id → station ids."""
        async with self.db.session() as session:
            groups = (await session.scalars(select(DispatchGroup))).all()
            members = (await session.scalars(select(GroupStation))).all()
        out: dict[str, list[str]] = {g.id: [] for g in groups}
        for m in members:
            out.setdefault(m.group_id, []).append(m.station_id)
        return out

    async def reload_groups(self) -> None:
        """Rebuild the station table from the store, keeping what is known of live stations."""
        async with self.db.session() as session:
            members = (await session.scalars(select(GroupStation))).all()
            # one query, not one per station: a group may hold thousands
            connected = set(
                (await session.scalars(select(Station.id).where(Station.connected.is_(True)))).all()
            )
        fresh: dict[str, StationState] = {}
        for m in members:
            old = self.stations.get(m.station_id)
            if old is not None:
                old.group_id, old.defaults = m.group_id, m
                fresh[m.station_id] = old
            else:
                fresh[m.station_id] = StationState(
                    m.station_id, m.group_id, m, connected=m.station_id in connected
                )
        self.stations = fresh
        await self._load_sessions()

    async def _load_sessions(self) -> None:
        """Active transactions of group stations (after a restart the bus has not told us yet)."""
        views = []
        while self.stations:  # page through: the service hands out at most `limit` at a time
            page = await self.services.sessions.list(active=True, limit=1000, offset=len(views))
            views.extend(page)
            if len(page) < 1000:
                break
        for view in views:
            t = view.transaction
            st = self.stations.get(t.station_id)
            if st is not None and st.transaction_id is None:
                st.transaction_id, st.connector_id, st.session_start = t.id, t.connector_id, t.start_time
                st.session_wh = float(view.energy_wh or 0.0)

    async def set_needs(self, station_id: str, **needs: Any) -> None:
        """What the driver or operator says about the EV at ``station_id`` (capacity_kwh, departure,
        required_soc_pct, reserve_soc_pct, soc_pct); applies to the current or next session."""
        async with self.db.session() as session:
            row = await session.get(EvNeed, station_id)
            if row is None:
                row = EvNeed(station_id=station_id)
                session.add(row)
            st = self.stations.get(station_id)
            row.transaction_id = st.transaction_id if st else None
            for key, value in needs.items():
                setattr(row, key, value)
            row.updated_at = self.clock()
        self._wake.set()

    # -- orders -----------------------------------------------------------------------------

    async def _ack(
        self, order_id: str, group: str, stage: str, revision: int | None = None, **extra: Any
    ) -> None:
        ack = Ack(order_id=order_id, revision=revision, stage=stage, time=self.clock(), **extra)  # type: ignore[arg-type]
        await self.bus.publish(Event("dispatch.ack", group, ack.model_dump(mode="json")))

    async def submit(self, order: Order) -> Ack:
        """Accept (fully or partly) or reject an order; publishes and returns the ack."""
        async with self._lock:
            ack = await self._submit(order)
        await self.bus.publish(Event("dispatch.ack", order.group, ack.model_dump(mode="json")))
        self._wake.set()
        return ack

    async def _submit(self, order: Order) -> Ack:
        now = self.clock()

        def reject(reason: str, where: str) -> Ack:
            return Ack(
                order_id=order.order_id,
                revision=order.revision,
                stage="rejected",
                time=now,
                reason=reason,
                field=where,
            )

        if order.group not in {st.group_id for st in self.stations.values()} and not await self._group_exists(
            order.group
        ):
            return reject(f"unknown group {order.group!r}", "group")
        async with self.db.session() as session:
            stored = await session.get(DispatchOrder, order.order_id)
        if stored is not None and order.revision <= stored.revision:
            return reject(f"revision {order.revision} is not above {stored.revision}", "revision")
        if stored is not None and stored.state not in LIVE_STATES:
            return reject(f"order {order.order_id} is already {stored.state}", "order_id")
        if stored is not None and stored.group_id != order.group:
            return reject("a revision cannot move an order to another group", "group")
        for other in list(self.orders.values()):
            o = other.order
            if o.order_id == order.order_id or o.group != order.group:
                continue
            if o.start < order.end and order.start < o.end:
                if order.priority != "emergency":
                    return reject(f"order {o.order_id} already covers this group then", "intervals")
                # No ClearChargingProfile: the emergency's own profiles replace these at once.
                await self._end(
                    other, "cancelled", reason=f"pre-empted by emergency order {order.order_id}", clear=False
                )
        await self._learn_discharge(order.group)
        committed = await self._commit_estimate(order, now)
        partial = any(
            abs(c - t) > iv.tolerance_kw + 1e-9
            for c, t, iv in zip(committed, await self._targets(order), order.intervals, strict=True)
        )
        state = "partial" if partial else "accepted"
        started = stored is not None and stored.state == "started"
        async with self.db.session() as session:
            row = await session.get(DispatchOrder, order.order_id)
            if row is None:
                row = DispatchOrder(order_id=order.order_id, created_at=now)
                session.add(row)
            row.revision, row.group_id = order.revision, order.group
            row.state = "started" if started else state
            row.body = order.model_dump_json()
            row.committed = json.dumps(committed)
            row.updated_at = now
        previous = self.orders.get(order.order_id)
        self.orders[order.order_id] = LiveOrder(
            order,
            "started" if started else state,
            committed,
            since=previous.since if previous else now,
            verified=previous.verified if previous else set(),
        )
        return Ack(
            order_id=order.order_id,
            revision=order.revision,
            stage=state,
            time=now,  # type: ignore[arg-type]
            committed_kw=committed,
        )

    async def _group_exists(self, group_id: str) -> bool:
        async with self.db.session() as session:
            return await session.get(DispatchGroup, group_id) is not None

    async def cancel(self, order_id: str, reason: str | None = None) -> bool:
        """End a live order now (normal charging resumes); False if there is none."""
        async with self._lock:
            live = self.orders.get(order_id)
            if live is None:
                return False
            await self._end(live, "cancelled", reason=reason)
        return True

    async def _end(self, live: LiveOrder, stage: str, reason: str | None = None, clear: bool = True) -> None:
        order = live.order
        self.orders.pop(order.order_id, None)
        async with self.db.session() as session:
            row = await session.get(DispatchOrder, order.order_id)
            if row is not None:
                row.state, row.updated_at = stage, self.clock()
        if clear and (stage == "cancelled" or order.fallback == "normal"):
            await self._clear_group(order.group)
        await self._ack(order.order_id, order.group, stage, order.revision, reason=reason)

    async def _resume_orders(self) -> None:
        async with self.db.session() as session:
            rows = (
                await session.scalars(select(DispatchOrder).where(DispatchOrder.state.in_(LIVE_STATES)))
            ).all()
        for row in rows:
            order = Order.model_validate_json(row.body)
            self.orders[row.order_id] = LiveOrder(
                order, row.state, json.loads(row.committed or "[]"), since=interval_start(self.clock())
            )
            LOG.info("resuming dispatch order %s (%s)", row.order_id, row.state)

    async def _targets(self, order: Order) -> list[float]:
        """Absolute group power per interval (relative orders add the baseline)."""
        out = []
        for iv in order.intervals:
            base = 0.0
            if order.mode == "relative":
                base = await self.baseline_kwh(order.group, iv.start) / (INTERVAL_S / 3600)
            out.append(base + iv.target_kw)
        return out

    async def _commit_estimate(self, order: Order, now: datetime) -> list[float]:
        """What the group's EVs connected now can hold in each interval (an estimate: EVs come and
        go; re-allocation tracks the target within the hard limits at every step)."""
        targets = await self._targets(order)
        fleet, _ = self._fleet(order.group, now)
        out = []
        for iv, target in zip(order.intervals, targets, strict=True):
            at = max(iv.start, now).timestamp()
            lo, hi = windows(fleet, at, INTERVAL_S, honour_departure=order.priority != "emergency")
            out.append(round(float(min(max(target, lo.sum()), hi.sum())), 3))
        return out

    # -- the round --------------------------------------------------------------------------

    async def step(self, now: datetime) -> None:
        """One round: close finished intervals, start/end orders, re-allocate, telemetry."""
        async with self._lock:
            await self._close_intervals(now)
            for live in sorted(self.orders.values(), key=lambda o: o.order.priority != "emergency"):
                order = live.order
                if now >= order.end:
                    await self._end(live, "completed")
                    continue
                if now < order.start:
                    continue
                if live.state != "started":
                    live.state = "started"
                    async with self.db.session() as session:
                        row = await session.get(DispatchOrder, order.order_id)
                        if row is not None:
                            row.state = "started"
                    await self._ack(order.order_id, order.group, "started", order.revision)
                await self._allocate(live, now)
            if (
                self._last_telemetry is None
                # a round that comes a little early must not push telemetry out by a whole period
                or (now - self._last_telemetry).total_seconds() >= 0.9 * self.telemetry_s
            ):
                self._last_telemetry = now
                await self._telemetry(now)

    def _ev(self, st: StationState, now: datetime) -> EvState:
        d = st.defaults
        needs = self._needs.get(st.station_id)

        def told(name: str, default: Any) -> Any:
            value = getattr(needs, name) if needs is not None else None
            return default if value is None else value

        capacity = told("capacity_kwh", d.capacity_kwh)
        if st.soc_pct is not None:
            energy = st.soc_pct / 100 * capacity
        elif needs is not None and needs.soc_pct is not None:
            energy = needs.soc_pct / 100 * capacity
        else:
            energy = d.arrival_soc_pct / 100 * capacity + st.session_wh / 1000 * ETA
        energy = min(max(energy, 0.0), capacity)
        start = st.session_start or now
        departure = told("departure", start + timedelta(hours=d.dwell_h))
        required = told("required_soc_pct", d.required_soc_pct) / 100 * capacity
        reserve = told("reserve_soc_pct", d.reserve_soc_pct) / 100 * capacity
        discharge = d.discharge_kw if st.discharge_capable else 0.0
        return EvState(
            st.station_id,
            energy,
            capacity,
            required,
            reserve,
            d.charge_kw,
            d.charge_kw,
            0.0,
            discharge,
            departure.timestamp(),
        )

    def _controllable(self, group: str) -> list[StationState]:
        return [
            st
            for st in self.stations.values()
            if st.group_id == group and st.connected and st.transaction_id is not None and not st.refused
        ]

    def _fleet(self, group: str, now: datetime) -> tuple[Fleet, list[StationState]]:
        members = self._controllable(group)
        return Fleet.of([self._ev(st, now) for st in members]), members

    async def _refresh_needs(self) -> None:
        async with self.db.session() as session:
            rows = (await session.scalars(select(EvNeed))).all()
        self._needs = {
            r.station_id: r
            for r in rows
            if r.transaction_id is None
            or r.transaction_id == getattr(self.stations.get(r.station_id), "transaction_id", None)
        }

    async def _allocate(self, live: LiveOrder, now: datetime) -> None:
        order = live.order
        await self._refresh_needs()
        await self._learn_discharge(order.group)
        k_start = interval_start(now)
        index = next((n for n, iv in enumerate(order.intervals) if iv.start == k_start), None)
        if index is None:
            return
        iv = order.intervals[index]
        if self._interval_of.get(order.group) != k_start:  # a refusal holds for one interval
            self._interval_of[order.group] = k_start
            for st in self.stations.values():
                if st.group_id == order.group:
                    st.refused = False
        target = (await self._targets(order))[index]
        if order.priority == "emergency" and target == 0:
            await self._cap_group(order.group, now, iv.end + timedelta(seconds=max(60.0, 2 * self.step_s)))
            return
        elapsed = (now - k_start).total_seconds()
        delivered = self.group_kwh.get((order.group, k_start), 0.0)
        # Stations of the group this round cannot steer (no session, refused) still draw power.
        steered = {st.station_id for st in self._controllable(order.group)}
        fixed_kw = sum(
            st.power_w / 1000
            for st in self.stations.values()
            if st.group_id == order.group and st.connected and st.station_id not in steered
        )
        group_kw = step_target_kw(target, INTERVAL_S, elapsed, delivered) - fixed_kw
        for _attempt in range(3):  # re-run when a station drops out during the fan-out
            fleet, members = self._fleet(order.group, now)
            if not members:
                return
            result = allocate(
                fleet,
                now.timestamp(),
                self.step_s,
                group_kw,
                targets_ahead=index + 1 < len(order.intervals),
                honour_departure=order.priority != "emergency",
            )
            # A profile outlives its interval by a grace time, so that a late round never leaves a
            # gap; if the backend stops, it expires and the station falls back to normal charging.
            until = iv.end + timedelta(seconds=max(60.0, 2 * self.step_s))
            sends = [
                self._send_profile(st, int(round(p * 1000)), now, until)
                for st, p in zip(members, result.power_kw, strict=True)
            ]
            outcomes = await asyncio.gather(*sends)
            if all(outcomes):
                break

    async def _send_profile(self, st: StationState, limit_w: int, now: datetime, until: datetime) -> bool:
        """Send one TxProfile unless the station holds the same one; False when the station dropped
        out (offline, refused)."""
        if st.setpoint_w is not None and abs(st.setpoint_w - limit_w) < 100 and st.valid_until == until:
            return True
        profile = {
            "charging_profile_id": PROFILE_ID,
            "transaction_id": st.transaction_id,
            "stack_level": PROFILE_STACK,
            "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Absolute",
            "valid_to": format_ocpp_time(until),
            "charging_schedule": {
                "charging_rate_unit": "W",
                "start_schedule": format_ocpp_time(now - SCHEDULE_LEAD),
                "charging_schedule_period": [{"start_period": 0, "limit": float(limit_w)}],
            },
        }
        try:
            answer = await self._command(
                st.station_id,
                "SetChargingProfile",
                {"connector_id": st.connector_id, "cs_charging_profiles": profile},
            )
        except CommandError as error:
            LOG.info("%s: profile not delivered (%s); re-allocating", st.station_id, error)
            st.connected = False
            return False
        except ValueError as error:  # the OCPP schema refused the request: a bug, not the station's fault
            LOG.error("%s: profile not valid OCPP (%s)", st.station_id, error)
            st.refused = True
            return False
        self.profiles_sent += 1
        if answer.get("status") != "Accepted":
            LOG.info("%s refused the profile (%s); re-allocating", st.station_id, answer.get("status"))
            st.refused = True
            return False
        st.setpoint_w, st.valid_until = limit_w, until
        return True

    async def _command(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One command of a fan-out, straight to the bus: group members are registered stations
        (foreign key), so the registry look-up per station that CommandService makes would cost
        thousands of queries at once. The semaphore bounds the commands in flight."""
        async with self._in_flight:
            return await self.bus.send_command(
                Command(station_id, action, payload), self.services.commands.timeout_s
            )

    async def _cap_group(self, group: str, now: datetime, until: datetime) -> None:
        """Emergency 0 kW: a 0 W ChargePointMaxProfile on every connected station of the group
        (sent once per validity); a station that refuses it gets a 0 W TxProfile if it charges."""
        start, valid_to = format_ocpp_time(now - SCHEDULE_LEAD), format_ocpp_time(until)
        targets = [
            st
            for st in self.stations.values()
            if st.group_id == group and st.connected and st.capped_until != until
        ]

        async def cap(st: StationState) -> None:
            profile = {
                "charging_profile_id": CAP_PROFILE_ID,
                "stack_level": PROFILE_STACK,
                "charging_profile_purpose": "ChargePointMaxProfile",
                "charging_profile_kind": "Absolute",
                "valid_to": valid_to,
                "charging_schedule": {
                    "charging_rate_unit": "W",
                    "start_schedule": start,
                    "charging_schedule_period": [{"start_period": 0, "limit": 0.0}],
                },
            }
            try:
                answer = await self._command(
                    st.station_id, "SetChargingProfile", {"connector_id": 0, "cs_charging_profiles": profile}
                )
            except CommandError as error:
                LOG.info("%s: emergency cap not delivered (%s)", st.station_id, error)
                st.connected = False
                return
            self.profiles_sent += 1
            if answer.get("status") == "Accepted":
                st.capped_until = until
            elif st.transaction_id is not None:
                LOG.warning("%s refused the emergency cap (%s): 0 W TxProfile", st.station_id, answer)
                await self._send_profile(st, 0, now, until)

        await asyncio.gather(*(cap(st) for st in targets))

    async def _clear_group(self, group: str) -> None:
        targets = [
            st
            for st in self.stations.values()
            if st.group_id == group and (st.setpoint_w is not None or st.capped_until is not None)
        ]

        async def clear(st: StationState) -> None:
            ids = [PROFILE_ID] if st.setpoint_w is not None else []
            if st.capped_until is not None:
                ids.append(CAP_PROFILE_ID)
            st.setpoint_w, st.capped_until = None, None
            st.refused = False
            for profile_id in ids:
                with contextlib.suppress(CommandError):
                    await self._command(st.station_id, "ClearChargingProfile", {"id": profile_id})

        await asyncio.gather(*(clear(st) for st in targets))

    async def _learn_discharge(self, group: str) -> None:
        """Ask stations once whether they expose the Frostgrid discharge key (read-only bool)."""
        unknown = [st for st in self._controllable(group) if st.discharge_capable is None]

        async def ask(st: StationState) -> None:
            try:
                answer = await self._command(st.station_id, "GetConfiguration", {"key": [DISCHARGE_KEY]})
            except (CommandError, ValueError):
                return
            keys = {k.get("key"): k for k in answer.get("configuration_key") or []}
            entry = keys.get(DISCHARGE_KEY)
            st.discharge_capable = bool(entry and str(entry.get("value")).lower() == "true")

        await asyncio.gather(*(ask(st) for st in unknown))

    # -- measurement, verification, telemetry ----------------------------------------------

    async def _close_intervals(self, now: datetime) -> None:
        current = interval_start(now)
        due = {key for key in self.group_kwh if key[1] < current}
        previous = current - timedelta(seconds=INTERVAL_S)
        watched = self._running_since is not None and self._running_since <= previous
        if watched and previous != self._recorded:
            # an interval in which no station of a group reported is history too (0 kWh), but only
            # if this process watched all of it
            due |= {(st.group_id, previous) for st in self.stations.values()}
            self._recorded = previous
        for live in self.orders.values():  # an interval without readings is verified too (0 kWh)
            due |= {
                (live.order.group, iv.start)
                for iv in live.order.intervals
                if iv.end <= current and iv.start not in live.verified and iv.end > live_since(live)
            }
        for group, start in sorted(due, key=lambda key: key[1]):
            energy = self.group_kwh.pop((group, start), 0.0)
            live = next((o for o in self.orders.values() if o.order.group == group), None)
            iv_index = None
            if live is not None:
                iv_index = next((n for n, iv in enumerate(live.order.intervals) if iv.start == start), None)
            dispatched = live is not None and iv_index is not None
            baseline = await self.baseline_kwh(group, start) if dispatched else 0.0
            async with self.db.session() as session:
                row = await session.get(GroupInterval, (group, start))
                if row is None:
                    row = GroupInterval(group_id=group, start=start, energy_kwh=0.0, verified=False)
                    session.add(row)
                row.energy_kwh += energy
                if live is not None and iv_index is not None:
                    row.order_id = live.order.order_id
                    row.baseline_kwh = baseline
                    row.verified = True
            if live is not None and iv_index is not None and start not in live.verified:
                live.verified.add(start)
                await self._verify(live, iv_index, start, energy, baseline)

    async def _verify(
        self, live: LiveOrder, index: int, start: datetime, delivered: float, baseline: float
    ) -> None:
        iv = live.order.intervals[index]
        h = INTERVAL_S / 3600
        target_kwh = (await self._targets(live.order))[index] * h
        ordered = target_kwh - baseline
        ratio = (delivered - baseline) / ordered if abs(ordered) > 1e-9 else None
        message = Verification(
            order_id=live.order.order_id,
            group=live.order.group,
            interval_start=start,
            target_kwh=round(target_kwh, 4),
            baseline_kwh=round(baseline, 4),
            delivered_kwh=round(delivered, 4),
            ratio=None if ratio is None else round(ratio, 4),
            within_tolerance=abs(delivered - target_kwh) <= iv.tolerance_kw * h + 1e-9,
        )
        await self.bus.publish(
            Event("dispatch.verification", live.order.group, message.model_dump(mode="json"))
        )

    async def baseline_kwh(self, group: str, start: datetime) -> float:
        """The group's expected energy in the interval at ``start`` without dispatch (module doc)."""
        since = start - timedelta(days=BASELINE_DAYS)
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(GroupInterval)
                    .where(
                        GroupInterval.group_id == group,
                        GroupInterval.start >= since,
                        GroupInterval.start < start,
                        GroupInterval.order_id.is_(None),
                    )
                    .order_by(GroupInterval.start.desc())
                )
            ).all()
        same_hour = [
            r.energy_kwh for r in rows if r.start.hour == start.hour and r.start.date() != start.date()
        ]
        if same_hour:
            return float(np.mean(same_hour))
        recent = [r.energy_kwh for r in rows[:4]]
        return float(np.mean(recent)) if recent else 0.0

    async def _telemetry(self, now: datetime) -> None:
        for group in sorted({st.group_id for st in self.stations.values()}):
            await self._learn_discharge(group)  # flexibility down counts export only where it exists
            members = [st for st in self.stations.values() if st.group_id == group and st.connected]
            net_kw = sum(st.power_w for st in members) / 1000
            fleet, evs = self._fleet(group, now)
            socs = [100 * e / c for e, c in zip(fleet.energy_kwh, fleet.capacity_kwh, strict=True)]
            flex = []
            for hour in range(4):
                at = now + timedelta(hours=hour)
                lo, hi = windows(fleet, at.timestamp(), 3600.0)
                flex.append(
                    Flexibility(
                        hour_start=at,
                        up_kw=round(float(hi.sum()) - net_kw, 3),
                        down_kw=round(net_kw - float(lo.sum()), 3),
                        up_kwh=round(float(hi.sum()) - net_kw, 3),
                        down_kwh=round(net_kw - float(lo.sum()), 3),
                    )
                )
            message = Telemetry(
                group=group,
                time=now,
                import_kw=round(max(net_kw, 0.0), 3),
                export_kw=round(max(-net_kw, 0.0), 3),
                evs_connected=len(evs),
                mean_soc_pct=round(float(np.mean(socs)), 2) if socs else None,
                flexibility=flex,
            )
            await self.bus.publish(Event("dispatch.telemetry", group, message.model_dump(mode="json")))

    # -- bus --------------------------------------------------------------------------------

    async def _follow_bus(self) -> None:
        async for event in self._subscription:
            try:
                await self._on_event(event)
            except Exception:
                LOG.exception("dispatcher failed on %s", event.kind)

    async def _on_event(self, event: Event) -> None:
        if event.kind == "dispatch.order":
            try:
                order = Order.model_validate(event.data)
            except ValueError as error:
                await self._ack(
                    str(event.data.get("order_id", "_invalid")), "", "rejected", reason=str(error)
                )
                return
            await self.submit(order)
            return
        if event.kind == "dispatch.cancel":
            order_id = str(event.data.get("order_id"))
            if not await self.cancel(order_id, event.data.get("reason")):
                await self._ack(
                    order_id, "", "rejected", reason="no live order with this id", field="order_id"
                )
            return
        st = self.stations.get(event.station_id)
        if st is None:
            return
        wake = True
        if event.kind == "station.connected":
            st.connected, st.discharge_capable, st.setpoint_w, st.capped_until = True, None, None, None
        elif event.kind == "station.disconnected":
            st.connected = False
        elif event.kind == "session.started":
            st.transaction_id = event.data.get("transaction_id")
            st.connector_id = event.data.get("connector_id") or 1
            st.session_start, st.session_wh, st.setpoint_w, st.soc_pct = event.time, 0.0, None, None
        elif event.kind == "session.stopped":
            st.transaction_id, st.setpoint_w, st.soc_pct, st.refused = None, None, None, False
        elif event.kind == "meter.readings":
            wake = False
            self._on_readings(st, event)
        if wake:
            self._wake.set()

    def _on_readings(self, st: StationState, event: Event) -> None:
        values: dict[str, float] = {}
        when = event.time
        for r in event.data.get("readings", []):
            if r.get("phase") not in (None, ""):
                continue
            try:
                value = float(r["value"])
            except (KeyError, TypeError, ValueError):
                continue
            unit = (r.get("unit") or "").lower()
            if unit in ("kwh", "kw"):
                value *= 1000
            values[r.get("measurand") or "Energy.Active.Import.Register"] = value
            if r.get("timestamp"):
                with contextlib.suppress(ValueError, TypeError):
                    when = parse_ocpp_time(str(r["timestamp"]))
        if "SoC" in values:
            st.soc_pct = values["SoC"]
        if "Power.Active.Import" in values or "Power.Active.Export" in values:
            st.power_w = values.get("Power.Active.Import", 0.0) - values.get("Power.Active.Export", 0.0)
        if "Energy.Active.Import.Register" in values:
            net = values["Energy.Active.Import.Register"] - values.get("Energy.Active.Export.Register", 0.0)
            if st.net_wh is not None:
                delta = net - st.net_wh
                key = (st.group_id, interval_start(when))
                self.group_kwh[key] = self.group_kwh.get(key, 0.0) + delta / 1000
                if st.transaction_id is not None:
                    st.session_wh += delta
            st.net_wh = net


def live_since(live: LiveOrder) -> datetime:
    """Intervals that ended before the dispatcher took the order on are not verified by it."""
    return live.since or live.order.start
