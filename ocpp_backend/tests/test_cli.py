"""The frostgrid command: backend process, station and token management, sim/demo hand-off."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import httpx
import pytest
from ocpp.v16 import call, call_result
from typer.testing import CliRunner

from ocpp_backend.cli import app
from ocpp_backend.tests.chargepoint import open_station

FROSTGRID = [sys.executable, "-c", "from ocpp_backend.cli import main; main()"]
runner = CliRunner()


async def _boot(ocpp_url: str, station_id: str, password: str) -> call_result.BootNotification:
    async with open_station(ocpp_url, station_id, password) as cp:
        return await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))


ADMIN_TOKEN = "fgt_test-admin-token-for-the-cli-tests"


def _start_backend(tmp_path: Path, db_url: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [*FROSTGRID, "backend", "--port", "0", "--http-port", "0", "--db", db_url, "--heartbeat", "120"],
        cwd=tmp_path,
        env={**os.environ, "FROSTGRID_ADMIN_TOKEN": ADMIN_TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ocpp_line = proc.stdout.readline().strip()
    api_line = proc.stdout.readline().strip()
    return proc, ocpp_line, api_line


def test_backend_prints_real_ports_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"
    assert (
        runner.invoke(app, ["station", "add", "FG-0001", "--password", "pw", "--db", db_url]).exit_code == 0
    )
    proc, ocpp_line, api_line = _start_backend(tmp_path, db_url)
    try:
        ocpp = re.fullmatch(r"OCPP: ws://127\.0\.0\.1:(\d+)/ocpp/\{station_id\}", ocpp_line)
        api = re.fullmatch(
            r"API: http://127\.0\.0\.1:(\d+)/api/v1/ \(docs at http://127\.0\.0\.1:(\d+)/docs\)", api_line
        )
        assert ocpp and api, (ocpp_line, api_line)
        ocpp_port, http_port = int(ocpp.group(1)), int(api.group(1))
        assert 0 not in (ocpp_port, http_port) and api.group(2) == api.group(1)
        stations = httpx.get(
            f"http://127.0.0.1:{http_port}/api/v1/stations",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        ).json()
        assert [s["id"] for s in stations] == ["FG-0001"]
        boot = asyncio.run(_boot(f"ws://127.0.0.1:{ocpp_port}/ocpp", "FG-0001", "pw"))
        assert (boot.status, boot.interval) == ("Accepted", 120)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_backend_uses_frostgrid_db_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("FROSTGRID_DB", db_url)
    assert runner.invoke(app, ["station", "add", "FG-0009", "--password", "pw"]).exit_code == 0
    assert (tmp_path / "env.db").exists()
    listed = runner.invoke(app, ["station", "list"])
    assert "FG-0009" in listed.output


def test_station_add_list_remove(tmp_path: Path) -> None:
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"]
    assert runner.invoke(app, ["station", "add", "FG-0001", "--password", "pw", *db]).exit_code == 0
    assert runner.invoke(app, ["station", "add", "FG-0002", "-p", "pw2", *db]).exit_code == 0
    duplicate = runner.invoke(app, ["station", "add", "FG-0001", "--password", "pw", *db])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad = runner.invoke(app, ["station", "add", "no/slash", "--password", "pw", *db])
    assert bad.exit_code == 1 and "invalid station id" in bad.output
    listed = runner.invoke(app, ["station", "list", *db])
    assert listed.exit_code == 0
    assert "2 station(s)" in listed.output and "FG-0001" in listed.output and "FG-0002" in listed.output
    assert runner.invoke(app, ["station", "remove", "FG-0001", *db]).exit_code == 0
    missing = runner.invoke(app, ["station", "remove", "FG-0001", *db])
    assert missing.exit_code == 1 and "not registered" in missing.output
    listed = runner.invoke(app, ["station", "list", *db])
    assert "1 station(s)" in listed.output and "FG-0001" not in listed.output


def test_idtag_add_and_list(tmp_path: Path) -> None:
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"]
    assert runner.invoke(app, ["idtag", "add", "CARD-1", *db]).exit_code == 0
    assert (
        runner.invoke(
            app, ["idtag", "add", "CARD-2", "--status", "Blocked", "--expiry", "2030-01-01", *db]
        ).exit_code
        == 0
    )
    bad = runner.invoke(app, ["idtag", "add", "CARD-3", "--status", "Sometimes", *db])
    assert bad.exit_code == 1 and "status must be one of" in bad.output
    listed = runner.invoke(app, ["idtag", "list", *db])
    assert "CARD-1" in listed.output and "Blocked" in listed.output and "2030-01-01" in listed.output
    assert "CARD-3" not in listed.output


def test_sim_and_demo_hand_over_to_the_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict]] = []
    fake = types.ModuleType("hil_tests.fleet")
    fake.run_sim = lambda **kw: calls.append(("sim", kw))  # type: ignore[attr-defined]
    fake.run_demo = lambda **kw: calls.append(("demo", kw))  # type: ignore[attr-defined]
    fake.FLEET_HEAP = "128k"  # type: ignore[attr-defined]  # `sim` takes the fleet's default heap
    monkeypatch.setitem(sys.modules, "hil_tests.fleet", fake)
    assert (
        runner.invoke(
            app,
            [
                "sim",
                "--stations",
                "3",
                "--backend",
                "ws://127.0.0.1:9100/ocpp",
                "--password",
                "pw",
                "--data-dir",
                "/tmp/x",
                "--heap",
                "96k",
            ],
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["demo", "--stations", "4", "--data-dir", "/tmp/y"]).exit_code == 0
    fake.DEMO_PASSWORD = "fleet-default"  # type: ignore[attr-defined]
    assert runner.invoke(app, ["sim", "--data-dir", "/tmp/z"]).exit_code == 0
    assert calls == [
        (
            "sim",
            {
                "backend_url": "ws://127.0.0.1:9100/ocpp",
                "stations": 3,
                "password": "pw",
                "data_dir": "/tmp/x",
                "heap": "96k",
            },
        ),
        ("demo", {"stations": 4, "data_dir": "/tmp/y"}),
        (
            "sim",
            {
                "backend_url": "ws://127.0.0.1:9000/ocpp",
                "stations": 1,
                "password": "fleet-default",
                "data_dir": "/tmp/z",
                "heap": "128k",
            },
        ),
    ]


def test_sim_without_the_fleet_module_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hil_tests.fleet", None)
    result = runner.invoke(app, ["sim"])
    assert result.exit_code == 1
    assert "hil_tests/fleet.py" in result.output


def test_backend_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *FROSTGRID,
                "backend",
                "--port",
                str(port),
                "--http-port",
                "0",
                "--db",
                f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
    assert result.returncode == 1
    assert "cannot start" in result.stderr


def test_unreachable_or_malformed_database_gives_a_clear_error(tmp_path: Path) -> None:
    for url, reason in (
        ("nonsense", "Could not parse"),
        ("postgresql+asyncpg://postgres:topsecret@127.0.0.1:1/x", "Connect call failed"),
        (f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}", "does not exist"),
    ):
        result = runner.invoke(app, ["station", "list", "--db", url])
        assert result.exit_code == 1
        assert "cannot open the database" in result.output and reason in " ".join(result.output.split())
        assert "topsecret" not in result.output
