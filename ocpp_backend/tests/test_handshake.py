"""The WebSocket handshake: security profile 1 (Basic auth) and the ocpp1.6 subprotocol."""

from __future__ import annotations

import pytest
import websockets
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import basic_auth, open_station
from ocpp_backend.tests.conftest import PASSWORD


async def _status_of(url: str, headers: dict[str, str] | None, subprotocols: list[str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            url, subprotocols=subprotocols or ["ocpp1.6"], additional_headers=headers or {}
        )
    return refused.value.response.status_code


async def test_unknown_station_is_refused_with_401(backend: Backend) -> None:
    assert (
        await _status_of(f"{backend.ocpp_url}/CP-9", {"Authorization": basic_auth("CP-9", PASSWORD)}) == 401
    )


async def test_wrong_password_is_refused_with_401(backend: Backend) -> None:
    assert await _status_of(f"{backend.ocpp_url}/CP-1", {"Authorization": basic_auth("CP-1", "guess")}) == 401


async def test_missing_credentials_are_refused_with_401(backend: Backend) -> None:
    assert await _status_of(f"{backend.ocpp_url}/CP-1", None) == 401


async def test_credentials_of_another_station_are_refused(backend: Backend) -> None:
    assert (
        await _status_of(f"{backend.ocpp_url}/CP-1", {"Authorization": basic_auth("CP-2", PASSWORD)}) == 401
    )


async def test_path_without_station_id_is_404(backend: Backend) -> None:
    headers = {"Authorization": basic_auth("CP-1", PASSWORD)}
    assert await _status_of(f"ws://127.0.0.1:{backend.ocpp_port}/somewhere/CP-1", headers) == 404


async def test_right_password_connects_with_ocpp16(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        assert cp._connection.subprotocol == "ocpp1.6"
        assert (await cp.call(call.Heartbeat())).current_time


async def test_connection_without_subprotocol_is_refused(backend: Backend) -> None:
    headers = {"Authorization": basic_auth("CP-1", PASSWORD)}
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{backend.ocpp_url}/CP-1", additional_headers=headers)
    assert refused.value.response.status_code == 400


async def test_other_subprotocols_only_are_refused(backend: Backend) -> None:
    headers = {"Authorization": basic_auth("CP-1", PASSWORD)}
    assert await _status_of(f"{backend.ocpp_url}/CP-1", headers, ["ocpp2.0.1", "ocpp1.5"]) == 400


async def test_ocpp16_is_chosen_among_several_offered(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD, subprotocols=("ocpp2.0.1", "ocpp1.6")) as cp:
        assert cp._connection.subprotocol == "ocpp1.6"


async def test_changed_password_takes_effect_at_the_next_handshake(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD):
        pass
    await backend.services.registry.set_password("CP-1", "new secret")
    assert (
        await _status_of(f"{backend.ocpp_url}/CP-1", {"Authorization": basic_auth("CP-1", PASSWORD)}) == 401
    )
    async with open_station(backend.ocpp_url, "CP-1", "new secret") as cp:
        assert (await cp.call(call.Heartbeat())).current_time
