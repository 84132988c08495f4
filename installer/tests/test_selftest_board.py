"""deploy + provision + selftest on the pseudo-terminal board against the simulated station:
the checklist passes on a healthy plant and names the part that failed on a faulty one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hil_tests.backend_proc import BackendProc
from installer.cli import device_app
from installer.ptyboard import PtyBoard
from installer.simrig import SimStation

PASSWORD = "selftest-pw-1"


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(device_app, list(args), env=env)


def _install(board: PtyBoard, station: SimStation, backend: BackendProc, bundle: Path) -> dict[str, Any]:
    """deploy, provision (with registration), selftest --json, as an installer runs them."""
    r = _cli("deploy", "--port", board.port, "--bundle", str(bundle), "--json")
    assert r.exit_code == 0, r.output
    s = station.settings(backend.ocpp_url, PASSWORD)
    args = [
        "provision",
        "--port",
        board.port,
        "--no-qr",
        "--id",
        s["id"],
        "--url",
        s["url"],
        "--board",
        "sim",
        "--plant",
        s["plant"],
        "--meter-model",
        s["meter"]["model"],
        "--meter-address",
        str(s["meter"]["address"]),
        "--register",
        "--api-url",
        backend.api_url,
    ]
    for z in s["zones"]:
        args += ["--zone", f"{z['name']}:{z['min_c']:g}:{z['cutoff_c']:g}:{z['heater_w']:g}:{z['guards']}"]
    r = _cli(*args, env={"FROSTGRID_STATION_PASSWORD": PASSWORD, "FROSTGRID_API_TOKEN": backend.admin_token})
    assert r.exit_code == 0, r.output
    r = _cli("selftest", "--port", board.port, "--heat-s", "400", "--wall-s", "40", "--json")
    out = json.loads(r.stdout)
    assert (r.exit_code == 0) == out["ok"], r.output
    return out


def _by_name(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in out["checks"]}


def test_healthy_station_passes_every_check_with_measured_values(
    board: PtyBoard, station: SimStation, backend: BackendProc, host_bundle: Path
) -> None:
    out = _install(board, station, backend, host_bundle)
    checks = _by_name(out)
    zones = [z.name for z in station.params.zones]
    assert set(checks) == {f"sensor {z}" for z in zones} | {f"heater {z}" for z in zones} | {
        "meter",
        "backend",
    }
    assert out["ok"] and out["failed"] == []
    for z in zones:
        assert abs(checks[f"sensor {z}"]["value"] - station.cold.temp_c(z)) < 5  # read near -20 °C
        assert checks[f"heater {z}"]["value"] >= 1.0
    assert checks["backend"]["value"] == "Accepted"
    assert backend.station(station.id)["id"] == station.id


@pytest.mark.parametrize(
    ("fault", "failed"),
    [
        (lambda s: s.dead_sensor("connector"), {"sensor connector", "heater connector"}),
        (lambda s: s.dead_heater("display"), {"heater display"}),
        (lambda s: s.silent_meter(), {"meter"}),
    ],
    ids=["dead-sensor", "dead-heater", "silent-meter"],
)
def test_faulty_station_fails_and_names_the_failed_part(
    board: PtyBoard,
    station: SimStation,
    backend: BackendProc,
    host_bundle: Path,
    fault: Callable[[SimStation], None],
    failed: set[str],
) -> None:
    fault(station)
    out = _install(board, station, backend, host_bundle)
    assert not out["ok"]
    assert set(out["failed"]) == failed
    details = " ".join(_by_name(out)[name]["detail"] for name in failed)
    assert any(word in details for word in ("open", "dead", "no answer", "no temperature"))
