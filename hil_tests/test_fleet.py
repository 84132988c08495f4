"""`make demo` without a terminal: the fleet runs sessions on a schedule, the backend stores them, and
everything started is gone afterwards."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

from rich.console import Console

from hil_tests.backend_proc import BackendProc, sqlite_url
from hil_tests.fleet import DEMO_TAG, Fleet, Schedule, run_demo


def _processes_under(path: Path) -> list[str]:
    """Processes whose working directory or command line mentions `path`."""
    found = []
    root = str(path.resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(root) or root in cmd:
            found.append(f"{pid}: {cmd.strip()} (cwd {cwd})")
    return found


def test_demo_runs_scheduled_sessions_into_the_backend_and_leaves_no_process_behind(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = run_demo(stations=2, data_dir=tmp_path, duration_s=35, seed=3,
                       schedule=Schedule(idle_s=(1.0, 3.0), charge_s=(5.0, 8.0), start_timeout_s=12.0),
                       console=Console(file=out, width=140, force_terminal=False))
    text = out.getvalue()
    assert "API:  http://127.0.0.1:" in text
    assert "FG-0001" in text and "FG-0002" in text
    assert set(summary) == {"FG-0001", "FG-0002"}
    assert all(s["sessions"] >= 1 for s in summary.values()), summary
    assert all(s["refused"] == 0 for s in summary.values()), summary
    assert _processes_under(tmp_path) == []

    # the backend kept what the fleet did
    backend = BackendProc(sqlite_url(tmp_path / "frostgrid.db"), cwd=tmp_path)
    backend.start()
    try:
        assert {s["id"] for s in backend.stations()} >= {"FG-0001", "FG-0002"}
        for sid, s in summary.items():
            done = [t for t in backend.transactions(sid) if t["meter_stop_wh"] is not None]
            assert len(done) >= s["sessions"], (sid, s, done)
            assert all(t["id_tag"] == DEMO_TAG for t in done)
            assert 0 < sum(t["energy_wh"] for t in done) <= s["energy_wh"]
    finally:
        backend.stop()
    assert _processes_under(tmp_path) == []


class _LogOnly:
    """A stand-in for a Dut: only its log, which a test appends to."""

    def __init__(self, *lines: str) -> None:
        self.log = list(lines)

    def grep(self, pattern: str, since: int = 0) -> list[re.Match[str]]:
        rx = re.compile(pattern)
        return [m for m in (rx.search(x) for x in self.log[since:]) if m]


def test_the_fleet_waits_at_its_stop_for_the_backend_to_confirm_ended_transactions(tmp_path: Path) -> None:
    fleet = Fleet("ws://127.0.0.1:1/ocpp", ["FG-0001", "FG-0002"], "pw", tmp_path)
    a = _LogOnly("TX_STOP ltx=1 reason=EVDisconnected meter=40", "TX_ACKED ltx=1",
                 "TX_STOP ltx=2 reason=EVDisconnected meter=90")
    b = _LogOnly("TX_STOP ltx=1 reason=Local meter=10", "TX_ACKED ltx=1")
    fleet.duts = {"FG-0001": a, "FG-0002": b}  # type: ignore[dict-item]
    assert fleet.unconfirmed() == {"FG-0001": ["2"]}
    t0 = time.monotonic()
    assert fleet.settle(timeout_s=0.5) == {"FG-0001": ["2"]}, "gives up after its timeout"
    assert time.monotonic() - t0 >= 0.5
    a.log.append("TX_ACKED ltx=2")
    t0 = time.monotonic()
    assert fleet.settle(timeout_s=10) == {}
    assert time.monotonic() - t0 < 5, "returns once everything is confirmed, not at its timeout"
