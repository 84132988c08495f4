"""A station sending broken frames gets CALLERRORs; its own link and other stations keep working."""

from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import open_station, raw_socket
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.tests.test_core_flow import ts

BROKEN_FRAMES = [
    # (frame, expected uniqueId, expected OCPP 1.6 error code)
    ("this is not json", "-1", "FormationViolation"),
    ('[2, "u-1", "Heartbeat", {}', "u-1", "FormationViolation"),  # truncated JSON
    ('{"action": "Heartbeat"}', "-1", "ProtocolError"),  # JSON but not an OCPP-J array
    ('[2, "u-2", "Heartbeat"]', "u-2", "ProtocolError"),  # payload missing
    ('[9, "u-3", "Heartbeat", {}]', "u-3", "PropertyConstraintViolation"),  # unknown message type
    ('[2, "u-4", "FlyToTheMoon", {}]', "u-4", "NotImplemented"),  # unknown action
    ('[2, "u-5", "RemoteStartTransaction", {"idTag": "X"}]', "u-5", "NotSupported"),  # wrong direction
    (
        '[2, "u-6", "StartTransaction", {"connectorId": "one", "idTag": "T", "meterStart": 0, '
        '"timestamp": "2025-01-01T00:00:00Z"}]',
        "u-6",
        "TypeConstraintViolation",
    ),  # wrong type
    (
        '[2, "u-7", "BootNotification", {"chargePointVendor": "V"}]',
        "u-7",
        "ProtocolError",
    ),  # required missing
    ('[2, "u-8", "Heartbeat", {"surprise": 1}]', "u-8", "FormationViolation"),  # extra field
    ('[2, "u-9", "Authorize", {"idTag": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}]', "u-9", "TypeConstraintViolation"),
    (
        '[2, "u-10", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, '
        '"timestamp": "yesterday"}]',
        "u-10",
        "PropertyConstraintViolation",
    ),  # not a date-time
    ('[2, 17, "Heartbeat", {}]', "17", "ProtocolError"),  # uniqueId not a string
]


@pytest.mark.parametrize(("frame", "unique_id", "code"), BROKEN_FRAMES)
async def test_broken_frame_gets_the_right_callerror(
    backend: Backend, frame: str, unique_id: str, code: str
) -> None:
    async with raw_socket(backend.ocpp_url, "CP-1", PASSWORD) as ws:
        await ws.send(frame)
        answer = json.loads(await ws.recv())
        assert answer[:3] == [4, unique_id, code]
        assert isinstance(answer[3], str) and isinstance(answer[4], dict)
        # The same link still works afterwards.
        await ws.send('[2, "ok-1", "Heartbeat", {}]')
        after = json.loads(await ws.recv())
        assert after[:2] == [3, "ok-1"] and "currentTime" in after[2]


async def test_unsolicited_answers_are_ignored_without_reply(backend: Backend) -> None:
    async with raw_socket(backend.ocpp_url, "CP-1", PASSWORD) as ws:
        await ws.send('[3, "nobody-asked", {}]')
        await ws.send('[4, "nobody-asked", "GenericError", "", {}]')
        await ws.send("[3]")
        await ws.send('[2, "hb", "Heartbeat", {}]')
        assert json.loads(await ws.recv())[:2] == [3, "hb"]


async def test_garbage_from_one_station_leaves_another_station_working(backend: Backend) -> None:
    async with (
        open_station(backend.ocpp_url, "CP-2", PASSWORD) as good,
        raw_socket(backend.ocpp_url, "CP-1", PASSWORD) as bad,
    ):
        for frame, _, _ in BROKEN_FRAMES:
            await bad.send(frame)
            await bad.recv()
        await bad.send(b"\x00\xff binary junk")
        assert json.loads(await bad.recv())[2] == "FormationViolation"
        start = await good.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(0))
        )
        assert start.id_tag_info["status"] == "Accepted"
        assert (await backend.services.registry.get("CP-2")).connected
        assert backend.ocpp.connected_ids == ["CP-1", "CP-2"]
