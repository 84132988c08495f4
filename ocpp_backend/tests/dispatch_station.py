"""A test charge point that takes charging profiles (the dispatcher's side of Smart Charging)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from ocpp_backend.tests.chargepoint import SimChargePoint, open_station
from ocpp_backend.timeutil import format_ocpp_time, utc_now


class ProfileStation(SimChargePoint):
    """Records every SetChargingProfile limit (W, + import / - export) and ClearChargingProfile;
    ``discharge`` sets the read-only ``FrostgridDischargeCapable`` key; ``refuse`` answers Rejected."""

    def __init__(
        self, station_id: str, connection: Any, discharge: bool = False, refuse: bool = False
    ) -> None:
        super().__init__(station_id, connection)
        self.configuration["FrostgridDischargeCapable"] = "true" if discharge else "false"
        self.refuse = refuse
        self.limits_w: list[float] = []
        self.profiles: list[tuple[int, str, int, float]] = []  # (connector, purpose, id, limit W)
        self.cleared = 0
        self.cleared_ids: list[int | None] = []
        self.changed = asyncio.Event()
        self.transaction_id: int | None = None

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict
    ) -> call_result.SetChargingProfile:
        if self.refuse:
            return call_result.SetChargingProfile(status="Rejected")
        schedule = cs_charging_profiles["charging_schedule"]
        assert schedule["charging_rate_unit"] == "W"
        self.limits_w.append(schedule["charging_schedule_period"][0]["limit"])
        self.profiles.append(
            (
                connector_id,
                cs_charging_profiles["charging_profile_purpose"],
                cs_charging_profiles["charging_profile_id"],
                float(self.limits_w[-1]),
            )
        )
        self.changed.set()
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        self.cleared += 1
        self.cleared_ids.append(payload.get("id"))
        self.changed.set()
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, **payload: Any) -> Any:
        self._got("GetCompositeSchedule", {"connector_id": connector_id, "duration": duration, **payload})
        limit = float(self.limits_w[-1]) if self.limits_w else 7000.0  # the library parses Decimals
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=format_ocpp_time(utc_now()),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        )

    async def plug_in(self, meter_start_wh: int = 0) -> int:
        """Start a transaction (the EV plugged in and was authorized)."""
        answer = await self.call(
            call.StartTransaction(
                connector_id=1,
                id_tag="TAG-OK",
                meter_start=meter_start_wh,
                timestamp=format_ocpp_time(utc_now()),
            )
        )
        self.transaction_id = answer.transaction_id
        return answer.transaction_id

    async def meter(
        self, import_wh: float, export_wh: float = 0.0, power_w: float = 0.0, soc_pct: float | None = None
    ) -> None:
        """Send one MeterValues of the transaction (registers, net power, SoC)."""
        values = [
            {"value": str(import_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(export_wh), "measurand": "Energy.Active.Export.Register", "unit": "Wh"},
            {"value": str(max(power_w, 0)), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(max(-power_w, 0)), "measurand": "Power.Active.Export", "unit": "W"},
        ]
        if soc_pct is not None:
            values.append({"value": str(soc_pct), "measurand": "SoC", "unit": "Percent", "location": "EV"})
        await self.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=self.transaction_id,
                meter_value=[{"timestamp": format_ocpp_time(utc_now()), "sampled_value": values}],
            )
        )


@asynccontextmanager
async def profile_station(
    ocpp_url: str, station_id: str, password: str, **kwargs: Any
) -> AsyncIterator[ProfileStation]:
    """Connect a ProfileStation and run its receive loop."""
    async with open_station(ocpp_url, station_id, password, station_class=ProfileStation, **kwargs) as cp:
        yield cp
