"""Commands to stations (Central System → Charge Point), sent over the bus to whichever connection
holds the station; each returns the station's answer (snake_case fields)."""

from __future__ import annotations

from typing import Any

from ocpp_backend.bus import Bus, Command
from ocpp_backend.services.registry import StationRegistry, UnknownStation


class CommandService:
    """One method per OCPP 1.6 Core (and local list / trigger) command."""

    def __init__(self, bus: Bus, registry: StationRegistry, timeout_s: float = 30.0) -> None:
        self._bus = bus
        self._registry = registry
        self.timeout_s = timeout_s

    async def send(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Send any OCPP 1.6 action; raises UnknownStation, StationOffline, CommandTimeout or
        CommandRejected."""
        if not await self._registry.exists(station_id):
            raise UnknownStation(station_id)
        command = Command(station_id, action, {k: v for k, v in (payload or {}).items() if v is not None})
        return await self._bus.send_command(command, self.timeout_s if timeout_s is None else timeout_s)

    async def remote_start(
        self, station_id: str, id_tag: str, connector_id: int | None = None
    ) -> dict[str, Any]:
        """RemoteStartTransaction."""
        return await self.send(
            station_id, "RemoteStartTransaction", {"id_tag": id_tag, "connector_id": connector_id}
        )

    async def remote_stop(self, station_id: str, transaction_id: int) -> dict[str, Any]:
        """RemoteStopTransaction."""
        return await self.send(station_id, "RemoteStopTransaction", {"transaction_id": transaction_id})

    async def reset(self, station_id: str, reset_type: str) -> dict[str, Any]:
        """Reset (``Soft`` or ``Hard``)."""
        return await self.send(station_id, "Reset", {"type": reset_type})

    async def unlock(self, station_id: str, connector_id: int) -> dict[str, Any]:
        """UnlockConnector."""
        return await self.send(station_id, "UnlockConnector", {"connector_id": connector_id})

    async def get_configuration(self, station_id: str, keys: list[str] | None = None) -> dict[str, Any]:
        """GetConfiguration (all keys when ``keys`` is empty)."""
        return await self.send(station_id, "GetConfiguration", {"key": keys or None})

    async def change_configuration(self, station_id: str, key: str, value: str) -> dict[str, Any]:
        """ChangeConfiguration."""
        return await self.send(station_id, "ChangeConfiguration", {"key": key, "value": value})

    async def change_availability(
        self, station_id: str, connector_id: int, availability: str
    ) -> dict[str, Any]:
        """ChangeAvailability (``Operative`` or ``Inoperative``)."""
        return await self.send(
            station_id, "ChangeAvailability", {"connector_id": connector_id, "type": availability}
        )

    async def clear_cache(self, station_id: str) -> dict[str, Any]:
        """ClearCache."""
        return await self.send(station_id, "ClearCache")

    async def trigger_message(
        self, station_id: str, requested_message: str, connector_id: int | None = None
    ) -> dict[str, Any]:
        """TriggerMessage."""
        return await self.send(
            station_id,
            "TriggerMessage",
            {"requested_message": requested_message, "connector_id": connector_id},
        )

    async def send_local_list(
        self, station_id: str, list_version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """SendLocalList; ``entries`` are ``{"id_tag": ..., "id_tag_info": {"status": ...}}``."""
        return await self.send(
            station_id,
            "SendLocalList",
            {
                "list_version": list_version,
                "update_type": update_type,
                "local_authorization_list": entries,
            },
        )

    async def get_local_list_version(self, station_id: str) -> dict[str, Any]:
        """GetLocalListVersion."""
        return await self.send(station_id, "GetLocalListVersion")

    async def data_transfer(
        self, station_id: str, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> dict[str, Any]:
        """DataTransfer to the station."""
        return await self.send(
            station_id, "DataTransfer", {"vendor_id": vendor_id, "message_id": message_id, "data": data}
        )

    async def set_charging_profile(
        self, station_id: str, connector_id: int, profile: dict[str, Any]
    ) -> dict[str, Any]:
        """SetChargingProfile; ``profile`` is a ``csChargingProfiles`` object in snake_case (limits in
        W may be negative for Frostgrid's discharge extension, docs/v2g-ocpp16-extension.md)."""
        return await self.send(
            station_id, "SetChargingProfile", {"connector_id": connector_id, "cs_charging_profiles": profile}
        )

    async def clear_charging_profile(
        self,
        station_id: str,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> dict[str, Any]:
        """ClearChargingProfile (every criterion given must match; none given clears all)."""
        return await self.send(
            station_id,
            "ClearChargingProfile",
            {
                "id": profile_id,
                "connector_id": connector_id,
                "charging_profile_purpose": purpose,
                "stack_level": stack_level,
            },
        )

    async def get_composite_schedule(
        self, station_id: str, connector_id: int, duration_s: int, unit: str | None = None
    ) -> dict[str, Any]:
        """GetCompositeSchedule (``unit`` ``W`` or ``A``)."""
        return await self.send(
            station_id,
            "GetCompositeSchedule",
            {"connector_id": connector_id, "duration": duration_s, "charging_rate_unit": unit},
        )
