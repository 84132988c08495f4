"""REST API completeness: filters and pagination of the lists, and the remaining station commands."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD, register
from ocpp_backend.tests.test_core_flow import ts


async def test_stations_are_filtered_by_status_connection_and_search_and_paginated(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    for station_id in ("FG-0003", "FG-0004", "HRB-0001"):
        await register(api_backend, station_id, PASSWORD)
    async with (
        open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp1,
        open_station(api_backend.ocpp_url, "HRB-0001", PASSWORD) as harbin,
    ):
        await cp1.call(call.BootNotification(charge_point_vendor="Frostgrid", charge_point_model="AC7-sim"))
        await cp1.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        await harbin.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="DC50"))
        await harbin.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        async def ids(**params: str | int) -> list[str]:
            return [s["id"] for s in (await api.get("/stations", params=params)).json()]

        assert await ids() == ["CP-1", "CP-2", "FG-0003", "FG-0004", "HRB-0001"]
        assert await ids(online="true") == ["CP-1", "HRB-0001"]
        assert await ids(online="false") == ["CP-2", "FG-0003", "FG-0004"]
        assert await ids(status="Charging") == ["CP-1"]
        assert await ids(status="Available", online="true") == ["HRB-0001"]
        assert await ids(search="fg-") == ["FG-0003", "FG-0004"]  # case-insensitive, on the id
        assert await ids(search="dc5") == ["HRB-0001"]  # on the model
        assert await ids(search="frostGRID") == ["CP-1"]  # on the vendor
        assert await ids(search="%") == []  # a LIKE wildcard is taken literally
        page = await api.get("/stations", params={"limit": 2, "offset": 2})
        assert [s["id"] for s in page.json()] == ["FG-0003", "FG-0004"]
        assert page.headers["X-Total-Count"] == "5"
        filtered = await api.get("/stations", params={"online": "true", "limit": 1})
        assert filtered.headers["X-Total-Count"] == "2" and len(filtered.json()) == 1
        assert (await api.get("/stations", params={"limit": 0})).status_code == 422


async def test_transactions_are_filtered_by_station_time_range_and_tag_and_paginated(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with (
        open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp1,
        open_station(api_backend.ocpp_url, "CP-2", PASSWORD) as cp2,
    ):
        # CP-1: 06:00-06:30 and 08:00-08:30; CP-2: 07:00, still running.
        ids = []
        for start_s, stop_s in ((0, 1800), (7200, 9000)):
            start = call.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(start_s)
            )
            tx = (await cp1.call(start)).transaction_id
            await cp1.call(call.StopTransaction(meter_stop=500, timestamp=ts(stop_s), transaction_id=tx))
            ids.append(tx)
        running = (
            await cp2.call(
                call.StartTransaction(connector_id=1, id_tag="CARD-2", meter_start=0, timestamp=ts(3600))
            )
        ).transaction_id
    early, late = ids

    async def listed(**params: str | int) -> list[int]:
        return [t["id"] for t in (await api.get("/transactions", params=params)).json()]

    assert await listed() == [running, late, early]
    assert await listed(station_id="CP-1") == [late, early]
    # Running at some time in [06:40, 07:30): only the session started at 07:00.
    assert await listed(since=ts(2400), until=ts(5400)) == [running]
    # Running at some time in [06:20, 08:10): all three.
    assert await listed(since=ts(1200), until=ts(7800)) == [running, late, early]
    assert await listed(until=ts(3600)) == [early]  # started before 07:00
    assert await listed(since=ts(9001)) == [running]
    assert await listed(id_tag="CARD-2") == [running]
    page = await api.get("/transactions", params={"limit": 1, "offset": 1})
    assert [t["id"] for t in page.json()] == [late] and page.headers["X-Total-Count"] == "3"


async def test_the_remaining_station_commands_reach_the_station_and_return_its_answer(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        cp.answers["ChangeAvailability"] = "Scheduled"
        availability = await api.post(
            "/stations/CP-1/availability", json={"connector_id": 1, "type": "Inoperative"}
        )
        whole = await api.post("/stations/CP-1/availability", json={"type": "Operative"})
        cleared = await api.post("/stations/CP-1/clear-cache")
        cp.answers["TriggerMessage"] = "Rejected"
        trigger = await api.post(
            "/stations/CP-1/trigger", json={"requested_message": "StatusNotification", "connector_id": 1}
        )
        local_list = await api.post(
            "/stations/CP-1/local-list",
            json={
                "list_version": 8,
                "update_type": "Differential",
                "entries": [
                    {
                        "id_tag": "CARD-1",
                        "id_tag_info": {"status": "Accepted", "expiry_date": "2030-01-01T00:00:00Z"},
                    },
                    {"id_tag": "CARD-2"},
                ],
            },
        )
        version = await api.get("/stations/CP-1/local-list/version")
        transfer = await api.post(
            "/stations/CP-1/data-transfer",
            json={"vendor_id": "Frostgrid", "message_id": "Ping", "data": "{}"},
        )
        bad_trigger = await api.post("/stations/CP-1/trigger", json={"requested_message": "Reset"})
        received = list(cp.received)

    assert (availability.status_code, availability.json()) == (200, {"status": "Scheduled"})
    assert whole.json() == {"status": "Scheduled"}
    assert cleared.json() == {"status": "Accepted"}
    assert trigger.json() == {"status": "Rejected"}
    assert local_list.json() == {"status": "Accepted"}
    assert version.json() == {"list_version": 7}
    assert transfer.json() == {"status": "Accepted", "data": "pong"}
    assert bad_trigger.status_code == 422
    assert received == [
        ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
        ("ChangeAvailability", {"connector_id": 0, "type": "Operative"}),
        ("ClearCache", {}),
        ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
        (
            "SendLocalList",
            {
                "list_version": 8,
                "update_type": "Differential",
                "local_authorization_list": [
                    {
                        "id_tag": "CARD-1",
                        "id_tag_info": {"status": "Accepted", "expiry_date": "2030-01-01T00:00:00Z"},
                    },
                    {"id_tag": "CARD-2"},
                ],
            },
        ),
        ("GetLocalListVersion", {}),
        ("DataTransfer", {"vendor_id": "Frostgrid", "message_id": "Ping", "data": "{}"}),
    ]


async def test_new_commands_to_a_silent_station_time_out_with_504(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD, mute=True):
        answer = await api.get("/stations/CP-1/local-list/version")
    assert answer.status_code == 504
    assert "did not answer GetLocalListVersion within 2 s" in answer.json()["detail"]
    assert (await api.post("/stations/CP-2/clear-cache")).status_code == 409


async def test_status_history_lists_a_stations_reports_newest_first(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code="OtherError",
                status="Faulted",
                vendor_id="Frostgrid",
                vendor_error_code="FG_HEATER",
            )
        )
    history = (await api.get("/stations/CP-1/status-history")).json()
    assert [(h["status"], h["vendor_error_code"]) for h in history] == [
        ("Faulted", "FG_HEATER"),
        ("Preparing", None),
    ]
    assert len((await api.get("/stations/CP-1/status-history", params={"limit": 1})).json()) == 1
    assert (await api.get("/stations/NOPE/status-history")).status_code == 404
