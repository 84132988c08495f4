"""Handshake and malformed traffic: the backend refuses strangers and bad frames without disturbing others."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from hil_tests.backend_proc import BackendProc
from hil_tests.conftest import MakeDut, new_station_id
from hil_tests.plant import ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import (
    CARD,
    finished_tx,
    plug_and_authorize,
    unplug_and_finish,
    wait_bound,
    wait_online,
)


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _open(backend: BackendProc, station_id: str, password: str | None) -> ClientConnection:
    headers = _auth(station_id, password) if password is not None else {}
    return connect(f"{backend.ocpp_url}/{station_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                   additional_headers=headers, open_timeout=10, compression=None)


def _refused_status(backend: BackendProc, station_id: str, password: str | None) -> int:
    with pytest.raises(InvalidStatus) as e:
        _open(backend, station_id, password).close()
    return e.value.response.status_code


@pytest.fixture
def good_station(backend: BackendProc, plant: ThreadedPlant, make_dut: MakeDut,
                 make_proxy: Callable[..., ThreadedProxy]):
    wire = make_proxy(backend.port)
    dut = make_dut(backend, url=wire.url("/ocpp"))
    dut.start()
    wait_online(dut, backend)
    return dut, wire


def test_unknown_station_and_wrong_password_are_refused_while_a_good_station_stays_connected(
    backend: BackendProc, plant: ThreadedPlant, good_station,
) -> None:
    dut, wire = good_station
    st = plant.station(dut.id)
    ltx = plug_and_authorize(st, dut, CARD)
    txid = wait_bound(dut, ltx)

    assert _refused_status(backend, new_station_id("NOPE"), "whatever") == 401
    assert _refused_status(backend, dut.id, "wrong-" + secrets.token_hex(4)) == 401
    assert _refused_status(backend, dut.id, None) == 401

    # the good station was not disturbed: same connection, and it still talks to the backend
    assert backend.connected(dut.id)
    assert wire.proxy.accepted == 1 and wire.active == 1
    answer = backend.http.get(f"stations/{dut.id}/configuration", params={"key": "HeartbeatInterval"},
                              timeout=45)  # longer than the backend's own command timeout (30 s)
    assert answer.status_code == 200, answer.text
    assert [k["key"] for k in answer.json()["configuration_key"]] == ["HeartbeatInterval"]
    unplug_and_finish(st, dut, ltx)
    assert finished_tx(backend, txid)["energy_wh"] == st.energy_wh
    assert wire.proxy.accepted == 1


MALFORMED = [
    ("not json at all", None),
    ('{"an": "object"}', None),
    ("[2]", None),
    ('[2, "m1", "Heartbeat"]', "m1"),
    ('[2, "m2", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "x"}]', "m2"),
    ('[2, "m3", "BootNotification", {"chargePointVendor": "x"}]', "m3"),
    ('[2, "m4", "FlyToTheMoon", {}]', "m4"),
    ('[2, "m5", "Heartbeat", "not an object"]', "m5"),
    ('[9, "m6", "Heartbeat", {}]', "m6"),
]


def test_malformed_frames_get_callerrors_and_other_stations_are_unaffected(
    backend: BackendProc, plant: ThreadedPlant, good_station,
) -> None:
    dut, wire = good_station
    raw_id, raw_pw = new_station_id("RAW"), secrets.token_hex(8)
    backend.add_station(raw_id, raw_pw)
    with _open(backend, raw_id, raw_pw) as ws:
        ws.send('[2, "b1", "BootNotification", {"chargePointVendor": "Raw", "chargePointModel": "Socket"}]')
        boot = json.loads(ws.recv(timeout=10))
        assert boot[0] == 3 and boot[1] == "b1" and boot[2]["status"] == "Accepted"
        for frame, uid in MALFORMED:
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=10))
            assert isinstance(reply, list) and reply[0] == 4, f"{frame!r} got {reply!r}, not a CALLERROR"
            assert isinstance(reply[2], str) and reply[2], reply
            if uid is not None:
                assert reply[1] == uid, f"{frame!r}: the CALLERROR must carry the CALL's id: {reply!r}"
        codes = set()
        ws.send('[2, "m4b", "FlyToTheMoon", {}]')
        codes.add(json.loads(ws.recv(timeout=10))[2])
        assert codes == {"NotImplemented"}
        # the connection survives all of that and still works
        ws.send('[2, "h1", "Heartbeat", {}]')
        hb = json.loads(ws.recv(timeout=10))
        assert hb[0] == 3 and hb[1] == "h1" and "currentTime" in hb[2]

    # the firmware station never noticed
    assert backend.connected(dut.id)
    assert wire.proxy.accepted == 1
    st = plant.station(dut.id)
    ltx = plug_and_authorize(st, dut, CARD)
    txid = wait_bound(dut, ltx)
    unplug_and_finish(st, dut, ltx)
    assert finished_tx(backend, txid)["energy_wh"] == st.energy_wh
