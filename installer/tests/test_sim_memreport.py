"""`frostgrid device sim` (a training board) and `frostgrid device memreport`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from hil_tests.backend_proc import frostgrid_binary
from installer.cli import device_app


def test_sim_prints_a_port_where_mpremote_finds_micropython_and_the_plant_address(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            frostgrid_binary(),
            "device",
            "sim",
            "--flash-dir",
            str(tmp_path / "flash"),
            "--seconds",
            "120",
            "--silent-meter",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C stops" not in text and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            text += line
        port = re.search(r"board on (\S+)", text)
        plant = re.search(r"plant on (127\.0\.0\.1:\d+)", text)
        assert port and plant, text
        assert "--meter-model DTSU666" in text and "--zone electronics:-20:60" in text
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "mpremote",
                "connect",
                port.group(1),
                "exec",
                "import sys; print(sys.implementation.name)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.stdout.strip() == "micropython", r
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0


def test_memreport_gives_the_budget_figures_and_a_capped_boot() -> None:
    r = CliRunner().invoke(device_app, ["memreport", "--heap", "128k", "--seconds", "2", "--json"])
    out = json.loads(r.stdout)
    assert out["boot"]["ok"], out["boot"]
    assert 0 < out["code_after_import_bytes"] and out["code_goal_bytes"] > 0
    assert "app" in out["resident_bytes"] and out["qstrs_after_on_demand_loaded_once"] > 0
    assert (r.exit_code == 0) == out["ok"]


def test_memreport_reports_a_heap_too_small_to_boot() -> None:
    r = CliRunner().invoke(device_app, ["memreport", "--heap", "24k", "--seconds", "1", "--json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and not out["ok"] and not out["boot"]["ok"]
