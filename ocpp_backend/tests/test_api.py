"""The REST API under /api/v1: stations, transactions, id tokens and commands that reach a station."""

from __future__ import annotations

import asyncio

import httpx
from ocpp.v16 import call

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD
from ocpp_backend.tests.test_core_flow import energy_sample, ts


async def test_health_and_openapi_docs_are_served(api: httpx.AsyncClient, api_backend: Backend) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok", "stations_connected": 0}
    root = f"http://127.0.0.1:{api_backend.http_port}"
    assert (await api.get(f"{root}/healthz")).status_code == 200
    assert (await api.get(f"{root}/docs")).status_code == 200
    paths = set((await api.get(f"{root}/openapi.json")).json()["paths"])
    assert {
        "/api/v1/stations",
        "/api/v1/stations/{station_id}",
        "/api/v1/stations/{station_id}/remote-start",
        "/api/v1/stations/{station_id}/remote-stop",
        "/api/v1/stations/{station_id}/reset",
        "/api/v1/stations/{station_id}/unlock",
        "/api/v1/stations/{station_id}/configuration",
        "/api/v1/transactions",
        "/api/v1/transactions/{tx_id}",
        "/api/v1/id-tokens",
        "/healthz",
    } <= paths


async def test_stations_can_be_added_listed_and_deleted(api: httpx.AsyncClient, api_backend: Backend) -> None:
    created = await api.post("/stations", json={"id": "FG-0001", "password": "s3cret"})
    assert created.status_code == 201
    assert created.json() == {
        "id": "FG-0001",
        "connected": False,
        "last_seen": None,
        "vendor": None,
        "model": None,
        "connectors": [],
    }
    assert (await api.post("/stations", json={"id": "FG-0001", "password": "x"})).status_code == 409
    assert (await api.post("/stations", json={"id": "bad/id", "password": "x"})).status_code == 422
    assert (await api.post("/stations", json={"id": "FG-0002", "password": ""})).status_code == 422
    assert [s["id"] for s in (await api.get("/stations")).json()] == ["CP-1", "CP-2", "FG-0001"]
    # The password given over the API is the one the handshake checks.
    async with open_station(api_backend.ocpp_url, "FG-0001", "s3cret") as cp:
        await cp.call(call.Heartbeat())
    assert (await api.delete("/stations/FG-0001")).status_code == 204
    assert (await api.delete("/stations/FG-0001")).status_code == 404
    assert [s["id"] for s in (await api.get("/stations")).json()] == ["CP-1", "CP-2"]


async def test_station_list_and_detail_show_connection_connectors_and_readings(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await cp.call(
            call.BootNotification(
                charge_point_vendor="Frostgrid", charge_point_model="AC7-sim", firmware_version="1.0"
            )
        )
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Charging", info="cold start done"
            )
        )
        tx_id = (
            await cp.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=100, timestamp=ts(0))
            )
        ).transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[energy_sample(60, 150), energy_sample(120, 220)],
            )
        )
        listed = {s["id"]: s for s in (await api.get("/stations")).json()}
        detail = (await api.get("/stations/CP-1")).json()

    assert listed["CP-1"]["connected"] is True and listed["CP-2"]["connected"] is False
    assert (listed["CP-1"]["vendor"], listed["CP-1"]["model"]) == ("Frostgrid", "AC7-sim")
    assert [
        (c["connector_id"], c["status"], c["error_code"], c["info"]) for c in listed["CP-1"]["connectors"]
    ] == [(0, "Available", "NoError", None), (1, "Charging", "NoError", "cold start done")]
    assert detail["connection"]["connected"] is True
    assert detail["connection"]["connected_since"] is not None
    assert detail["connection"]["remote_address"].startswith("127.0.0.1:")
    assert detail["firmware_version"] == "1.0"
    readings = {(r["measurand"], r["unit"]): r for r in detail["last_readings"]}
    assert readings[("Energy.Active.Import.Register", "Wh")]["value"] == 220
    assert readings[("Energy.Active.Import.Register", "Wh")]["transaction_id"] == tx_id
    assert readings[("Power.Active.Import", "W")]["value"] == 7200
    assert [(t["id"], t["energy_wh"]) for t in detail["active_transactions"]] == [(tx_id, 120)]
    assert (await api.get("/stations/NOPE")).status_code == 404


async def test_transactions_are_listed_filtered_and_shown_with_meter_values(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with (
        open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp1,
        open_station(api_backend.ocpp_url, "CP-2", PASSWORD) as cp2,
    ):
        done = (
            await cp1.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=1000, timestamp=ts(0))
            )
        ).transaction_id
        await cp1.call(
            call.MeterValues(connector_id=1, transaction_id=done, meter_value=[energy_sample(60, 1300)])
        )
        await cp1.call(
            call.StopTransaction(
                meter_stop=1450, timestamp=ts(90), transaction_id=done, reason="EVDisconnected"
            )
        )
        running = (
            await cp2.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=5, timestamp=ts(30))
            )
        ).transaction_id

    all_ids = [t["id"] for t in (await api.get("/transactions")).json()]
    assert all_ids == [running, done]
    assert [t["id"] for t in (await api.get("/transactions", params={"active": "true"})).json()] == [running]
    assert [t["id"] for t in (await api.get("/transactions", params={"active": "false"})).json()] == [done]
    assert [t["id"] for t in (await api.get("/transactions", params={"station_id": "CP-2"})).json()] == [
        running
    ]

    detail = (await api.get(f"/transactions/{done}")).json()
    assert {
        k: detail[k]
        for k in (
            "id",
            "station_id",
            "connector_id",
            "id_tag",
            "meter_start_wh",
            "meter_stop_wh",
            "energy_wh",
            "stop_reason",
            "active",
        )
    } == {
        "id": done,
        "station_id": "CP-1",
        "connector_id": 1,
        "id_tag": "TAG-OK",
        "meter_start_wh": 1000,
        "meter_stop_wh": 1450,
        "energy_wh": 450,
        "stop_reason": "EVDisconnected",
        "active": False,
    }
    assert detail["start_time"] == "2025-01-15T06:00:00Z"
    assert [(mv["measurand"], mv["value"], mv["unit"], mv["context"]) for mv in detail["meter_values"]] == [
        ("Energy.Active.Import.Register", 1300, "Wh", "Sample.Periodic"),
        ("Power.Active.Import", 7200, "W", "Sample.Periodic"),
    ]
    assert (await api.get("/transactions/999999")).status_code == 404


async def test_id_tokens_added_over_the_api_authorize_at_the_station(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    created = await api.post("/id-tokens", json={"id_tag": "CARD-7", "status": "Accepted"})
    assert created.status_code == 201
    assert (await api.post("/id-tokens", json={"id_tag": "CARD-8", "status": "Blocked"})).status_code == 201
    assert (await api.post("/id-tokens", json={"id_tag": "CARD-9", "status": "Maybe"})).status_code == 422
    assert (await api.post("/id-tokens", json={"id_tag": "X" * 21})).status_code == 422
    listed = {t["id_tag"]: t["status"] for t in (await api.get("/id-tokens")).json()}
    assert listed == {"CARD-7": "Accepted", "CARD-8": "Blocked", "TAG-OK": "Accepted"}
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        assert (await cp.call(call.Authorize(id_tag="CARD-7"))).id_tag_info["status"] == "Accepted"
        assert (await cp.call(call.Authorize(id_tag="CARD-8"))).id_tag_info["status"] == "Blocked"
        # Updating a token's status applies at the next authorization.
        await api.post("/id-tokens", json={"id_tag": "CARD-7", "status": "Blocked"})
        assert (await cp.call(call.Authorize(id_tag="CARD-7"))).id_tag_info["status"] == "Blocked"


async def test_remote_start_reaches_the_connected_station_and_returns_its_answer(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        answer = await api.post("/stations/CP-1/remote-start", json={"id_tag": "TAG-OK", "connector_id": 1})
        assert answer.status_code == 200
        assert answer.json() == {"status": "Accepted"}
        assert cp.received == [("RemoteStartTransaction", {"id_tag": "TAG-OK", "connector_id": 1})]
        cp.answers["RemoteStartTransaction"] = "Rejected"
        rejected = await api.post("/stations/CP-1/remote-start", json={"id_tag": "TAG-OK"})
        assert rejected.json() == {"status": "Rejected"}
        assert cp.received[-1] == ("RemoteStartTransaction", {"id_tag": "TAG-OK"})


async def test_every_command_route_reaches_the_station(api: httpx.AsyncClient, api_backend: Backend) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        stop = await api.post("/stations/CP-1/remote-stop", json={"transaction_id": 42})
        reset = await api.post("/stations/CP-1/reset", json={"type": "Hard"})
        unlock = await api.post("/stations/CP-1/unlock", json={"connector_id": 1})
        config_all = await api.get("/stations/CP-1/configuration")
        config_some = await api.get(
            "/stations/CP-1/configuration", params=[("key", "HeartbeatInterval"), ("key", "NoSuchKey")]
        )
        change = await api.put(
            "/stations/CP-1/configuration", json={"key": "MeterValueSampleInterval", "value": "10"}
        )
        unsupported = await api.put("/stations/CP-1/configuration", json={"key": "Nope", "value": "1"})
    assert stop.json() == {"status": "Accepted"}
    assert reset.json() == {"status": "Accepted"}
    assert unlock.json() == {"status": "Unlocked"}
    assert config_all.json() == {
        "configuration_key": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
        ],
        "unknown_key": [],
    }
    assert config_some.json() == {
        "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknown_key": ["NoSuchKey"],
    }
    assert change.json() == {"status": "Accepted"}
    assert cp.configuration["MeterValueSampleInterval"] == "10"
    assert unsupported.json() == {"status": "NotSupported"}
    assert [action for action, _ in cp.received] == [
        "RemoteStopTransaction",
        "Reset",
        "UnlockConnector",
        "GetConfiguration",
        "GetConfiguration",
        "ChangeConfiguration",
        "ChangeConfiguration",
    ]
    assert cp.received[0][1] == {"transaction_id": 42}
    assert cp.received[1][1] == {"type": "Hard"}
    assert cp.received[2][1] == {"connector_id": 1}
    assert (await api.post("/stations/CP-1/reset", json={"type": "Medium"})).status_code == 422


async def test_command_to_a_station_that_never_answers_is_504_after_the_timeout(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD, mute=True):
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await api.post("/stations/CP-1/reset", json={"type": "Soft"})
        waited = loop.time() - started
    assert answer.status_code == 504
    assert "did not answer Reset within 2 s" in answer.json()["detail"]
    assert 1.8 <= waited < 10  # the 2 s timeout, plus slack for a loaded machine


async def test_command_to_an_offline_station_is_409_and_to_an_unknown_one_404(api: httpx.AsyncClient) -> None:
    offline = await api.post("/stations/CP-2/unlock", json={"connector_id": 1})
    assert offline.status_code == 409
    assert "not connected" in offline.json()["detail"]
    assert (await api.get("/stations/NOPE/configuration")).status_code == 404
    assert (await api.post("/stations/NOPE/remote-start", json={"id_tag": "T"})).status_code == 404


async def test_callerror_answer_is_502_with_the_stations_error_code(
    api: httpx.AsyncClient, api_backend: Backend
) -> None:
    async with open_station(api_backend.ocpp_url, "CP-1", PASSWORD) as cp:
        del cp.route_map["Reset"]  # the station now answers Reset with NotImplemented
        answer = await api.post("/stations/CP-1/reset", json={"type": "Soft"})
        assert (await api.post("/stations/CP-1/unlock", json={"connector_id": 1})).status_code == 200
    assert answer.status_code == 502
    assert answer.json()["detail"]["error_code"] == "NotImplemented"
