"""Where a station stands (optional coordinates for the dashboard's map): given at registration
over the API or the CLI, shown in the station's detail, refused when half or out of range."""

from __future__ import annotations

import secrets

import httpx
import pytest

from ocpp_backend.tests.conftest import BackendFactory


async def test_coordinates_given_at_registration_are_shown_in_the_detail(
    make_backend: BackendFactory, sqlite_url: str
) -> None:
    token = "fgt_" + secrets.token_urlsafe(32)
    async with (
        make_backend(sqlite_url, http_port=0, admin_token=token) as backend,
        httpx.AsyncClient(
            base_url=backend.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as api,
    ):
        harbin = {"lat": 45.75, "lon": 126.63}
        placed = await api.post("/stations", json={"id": "HRB-1", "password": "pw", **harbin})
        unplaced = await api.post("/stations", json={"id": "HRB-2", "password": "pw"})
        half = await api.post("/stations", json={"id": "HRB-3", "password": "pw", "lat": 45.75})
        outside = await api.post("/stations", json={"id": "HRB-4", "password": "pw", "lat": 91, "lon": 0})
        detail_1 = (await api.get("/stations/HRB-1")).json()
        detail_2 = (await api.get("/stations/HRB-2")).json()
        listed = [s["id"] for s in (await api.get("/stations")).json()]

    assert (placed.status_code, unplaced.status_code) == (201, 201)
    assert (detail_1["lat"], detail_1["lon"]) == pytest.approx((45.75, 126.63))
    assert (detail_2["lat"], detail_2["lon"]) == (None, None)
    assert half.status_code == 422 and outside.status_code == 422
    assert listed == ["HRB-1", "HRB-2"]


async def test_registry_refuses_half_a_position(make_backend: BackendFactory, sqlite_url: str) -> None:
    async with make_backend(sqlite_url) as backend:
        with pytest.raises(ValueError, match="both lat and lon"):
            await backend.services.registry.add("HRB-5", "pw", lon=126.6)
        station = await backend.services.registry.add("HRB-6", "pw", lat=-45.0, lon=-179.5)
        assert (station.lat, station.lon) == (-45.0, -179.5)
        assert not await backend.services.registry.exists("HRB-5")
