"""The operator dashboard: front-end sources here (``src/``, built by Vite into ``dist/``), served
by the backend at ``/ui/`` (``/`` redirects there).

The build (``make dashboard``, also a step of ``make test`` and ``make demo``) runs
``npm ci && npm run build`` in this folder; ``dist/`` and ``node_modules/`` are not committed. A
backend started without a build serves a short page that says how to build it.
"""

from __future__ import annotations

import math
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

DIST_DIR = Path(__file__).resolve().parent / "dist"
HARBIN = (45.7567, 126.6424)  # where the demo fleet stands (WGS 84 degrees)
UI_PATH = "/ui"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Frostgrid</title>
<h1>Frostgrid dashboard not built</h1>
<p>Run <code>make dashboard</code> (npm ci &amp;&amp; npm run build in ocpp_backend/dashboard) and reload.
The REST API is at <a href="/docs">/docs</a>.</p>"""


def mount_dashboard(app: FastAPI, dist_dir: Path = DIST_DIR) -> None:
    """Serve the built dashboard at ``/ui/`` and redirect ``/`` to it (public: static files only;
    every piece of data comes from the API, which checks the caller's role)."""

    async def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/", status_code=307)

    app.get("/", include_in_schema=False)(root)
    if (dist_dir / "index.html").is_file():
        app.mount(UI_PATH, StaticFiles(directory=dist_dir, html=True), name="dashboard")
        return

    async def not_built(rest: str = "") -> HTMLResponse:
        return HTMLResponse(_NOT_BUILT, status_code=503)

    app.get(f"{UI_PATH}/{{rest:path}}", include_in_schema=False)(not_built)
    app.get(UI_PATH, include_in_schema=False)(not_built)


def demo_position(index: int, centre: tuple[float, float] = HARBIN) -> dict[str, float]:
    """``{"lat", "lon"}`` of the demo fleet's ``index``-th station: a spiral of a few km around
    ``centre``, so that the map has something to show."""
    angle = index * 2.399963  # the golden angle: points spread evenly without a pattern
    radius_deg = 0.012 * math.sqrt(index + 1)
    lat = centre[0] + radius_deg * math.sin(angle)
    lon = centre[1] + radius_deg * math.cos(angle) / math.cos(math.radians(centre[0]))
    return {"lat": round(lat, 5), "lon": round(lon, 5)}
