"""Structured logs: ``frostgrid backend --log-json`` writes JSON lines naming the station."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from ocpp.v16 import call
from typer.testing import CliRunner

from ocpp_backend.cli import app
from ocpp_backend.logging_setup import JsonFormatter, StationFilter, station_context
from ocpp_backend.tests.chargepoint import open_station

FROSTGRID = [sys.executable, "-c", "from ocpp_backend.cli import main; main()"]


def _format(record: logging.LogRecord) -> dict:
    StationFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_line_logged_in_a_station_context_carries_its_id_and_extra_fields() -> None:
    record = logging.LogRecord("ocpp_backend.x", logging.WARNING, __file__, 1, "boot %d", (3,), None)
    record.transaction_id = 42
    with station_context("FG-0007"):
        line = _format(record)
    assert (line["level"], line["logger"], line["msg"], line["station_id"]) == (
        "WARNING",
        "ocpp_backend.x",
        "boot 3",
        "FG-0007",
    )
    assert line["transaction_id"] == 42 and line["ts"].endswith("+00:00")
    outside = _format(logging.LogRecord("ocpp_backend.x", logging.INFO, __file__, 1, "started", (), None))
    assert "station_id" not in outside


async def _visit(ocpp_url: str) -> None:
    async with open_station(ocpp_url, "FG-0001", "pw") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))


def test_backend_with_log_json_names_the_station_on_its_lines(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"
    assert (
        CliRunner().invoke(app, ["station", "add", "FG-0001", "--password", "pw", "--db", db_url]).exit_code
        == 0
    )
    proc = subprocess.Popen(
        [
            *FROSTGRID,
            "backend",
            "--port",
            "0",
            "--http-port",
            "0",
            "--db",
            db_url,
            "--log-level",
            "INFO",
            "--log-json",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FROSTGRID_LOG_JSON": ""},
    )
    try:
        ocpp_line = proc.stdout.readline().strip()
        port = int(ocpp_line.rsplit(":", 1)[1].split("/")[0])  # OCPP: ws://127.0.0.1:PORT/ocpp/...
        asyncio.run(_visit(f"ws://127.0.0.1:{port}/ocpp"))
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, err
    about_station = [line for line in lines if "FG-0001" in line["msg"]]
    assert any("connected" in line["msg"] for line in about_station)
    assert about_station and all(line.get("station_id") == "FG-0001" for line in about_station)
    assert any("station_id" not in line for line in lines)  # start-up lines are about no station
