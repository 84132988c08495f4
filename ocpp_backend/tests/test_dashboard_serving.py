"""The backend serves the built dashboard at /ui/ (and / leads there); without a build it says how
to make one instead of failing."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from ocpp_backend.dashboard import demo_position, mount_dashboard


def client_of(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client that calls ``app`` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard.test")


async def test_a_built_dashboard_is_served_at_ui_and_the_root_leads_there(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Frostgrid</title><div id=view></div>")
    (tmp_path / "assets" / "app.js").write_text("console.log('fg')")
    app = FastAPI()
    mount_dashboard(app, tmp_path)
    async with client_of(app) as client:
        root = await client.get("/", follow_redirects=False)
        page = await client.get("/ui/")
        script = await client.get("/ui/assets/app.js")
        missing = await client.get("/ui/assets/missing.js")

    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    assert page.status_code == 200 and "<title>Frostgrid</title>" in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert missing.status_code == 404


async def test_without_a_build_the_ui_says_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    mount_dashboard(app, tmp_path / "dist")
    async with client_of(app) as client:
        page = await client.get("/ui/")
    assert page.status_code == 503
    assert "make dashboard" in page.text


def test_demo_stations_get_distinct_positions_a_few_km_around_the_centre() -> None:
    positions = [demo_position(i, centre=(45.0, 126.0)) for i in range(25)]
    assert len({(p["lat"], p["lon"]) for p in positions}) == 25
    assert all(abs(p["lat"] - 45.0) < 0.1 and abs(p["lon"] - 126.0) < 0.15 for p in positions)
