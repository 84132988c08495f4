"""Every Central System → Charge Point command of OCPP 1.6 Core, Local Auth List and Trigger."""

from __future__ import annotations

import pytest

from ocpp_backend.backend import Backend
from ocpp_backend.bus import StationOffline
from ocpp_backend.services.registry import UnknownStation
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD


async def test_remaining_core_commands_reach_the_station_with_their_fields(backend: Backend) -> None:
    commands = backend.services.commands
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answers = [
            await commands.change_availability("CP-1", 1, "Inoperative"),
            await commands.clear_cache("CP-1"),
            await commands.trigger_message("CP-1", "StatusNotification", 1),
            await commands.send_local_list(
                "CP-1",
                3,
                "Full",
                [
                    {"id_tag": "TAG-OK", "id_tag_info": {"status": "Accepted"}},
                    {"id_tag": "TAG-NO", "id_tag_info": {"status": "Blocked"}},
                ],
            ),
            await commands.get_local_list_version("CP-1"),
            await commands.data_transfer("CP-1", "org.frostgrid", "ping", "hello"),
        ]
    assert answers == [
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"list_version": 7},
        {"status": "Accepted", "data": "pong"},
    ]
    assert cp.received == [
        ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
        ("ClearCache", {}),
        ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
        (
            "SendLocalList",
            {
                "list_version": 3,
                "update_type": "Full",
                "local_authorization_list": [
                    {"id_tag": "TAG-OK", "id_tag_info": {"status": "Accepted"}},
                    {"id_tag": "TAG-NO", "id_tag_info": {"status": "Blocked"}},
                ],
            },
        ),
        ("GetLocalListVersion", {}),
        ("DataTransfer", {"vendor_id": "org.frostgrid", "message_id": "ping", "data": "hello"}),
    ]


async def test_invalid_command_is_refused_before_it_is_sent(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        with pytest.raises(ValueError, match="RemoteStartTransaction"):
            await backend.services.commands.remote_start("CP-1", "X" * 21)  # idTag max 20
        with pytest.raises(ValueError, match="unknown OCPP 1.6 action"):
            await backend.services.commands.send("CP-1", "SelfDestruct")
    assert cp.received == []


async def test_commands_for_unknown_or_offline_stations_fail_clearly(backend: Backend) -> None:
    with pytest.raises(UnknownStation):
        await backend.services.commands.clear_cache("NOPE")
    with pytest.raises(StationOffline, match="CP-2 is not connected"):
        await backend.services.commands.clear_cache("CP-2")
