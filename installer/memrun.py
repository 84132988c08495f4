"""The firmware of a bundle booted under a capped heap (for `frostgrid device memreport`).

The bundle's fw/ runs as a sim-board station (hil_tests.dut.Dut) against a plant on loopback and a
backend address where nothing listens: boot, journal recovery and the connect/back-off loop all
run, so a heap too small for them shows as a MemoryError or an exit within the run.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from hil_tests.dut import Dut, DutTimeout, station_json
from hil_tests.plant import ThreadedPlant


def _closed_port() -> int:
    # a port that was free a moment ago: connections to it are refused
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def capped_boot(fw_dir: Path, data_dir: Path, heap: str, seconds: float) -> dict[str, Any]:
    """{"ok", "detail"}: did the firmware boot and keep running `seconds` with `heap`?"""
    plant = ThreadedPlant()
    url = f"ws://127.0.0.1:{_closed_port()}/ocpp"
    dut = Dut(
        data_dir,
        # max_frame as provisioned (the rig's default is larger): its buffer is held for good
        station_json("FG-MEM-1", url, "unused", plant.address, max_frame=8192),
        fw_dir=fw_dir,
        heap=heap,
        auto_restart=False,
    )
    try:
        dut.start()
        try:
            dut.wait_for(r"JOURNAL n=", timeout=30)
        except DutTimeout:
            return {"ok": False, "detail": "did not boot: " + dut.tail(3).replace("\n", " | ")}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not dut.running or dut.grep(r"MemoryError"):
                return {"ok": False, "detail": "failed after boot: " + dut.tail(3).replace("\n", " | ")}
            time.sleep(0.2)
        return {"ok": True, "detail": f"booted and ran {seconds:g} s"}
    finally:
        dut.stop()
        plant.close()
