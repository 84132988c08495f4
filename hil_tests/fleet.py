"""A fleet of simulated stations: N firmware processes, one plant, sessions on a schedule.

`run_sim` drives stations that a backend already knows (`frostgrid sim`); `run_demo` is
`make demo`: it starts the backend on SQLite, registers the stations and a demo card, prints the
API URL and runs the fleet with a live table until Ctrl-C (or `duration_s`).

Each simulated driver repeats: wait a while, plug in, show the card, charge for a while, unplug.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hil_tests import build_mpy
from hil_tests.backend_proc import BackendProc, sqlite_url
from hil_tests.dut import DEFAULT_HEAP, FIRMWARE_DIR, Dut, station_json
from hil_tests.plant import Ev, StationPlant, ThreadedPlant
from ocpp_backend.dashboard import demo_position

DEMO_TAG = "DEMO-CARD"
# The heap of each firmware process in `make demo` and `frostgrid sim`: the one every HIL test runs
# the firmware with (hil_tests.dut.DEFAULT_HEAP), with the firmware precompiled as there and on a
# board, so the fleet shows the firmware as tested, not with room it will not have on a board
# (`make bench-firmware` measures how little it needs).
FLEET_HEAP = DEFAULT_HEAP
DEMO_PASSWORD = "frostgrid-demo"
# Settings a fleet station starts with (written once to its config.json).
FLEET_CONFIG = {"MeterValueSampleInterval": 10, "HeartbeatInterval": 60}


class Schedule:
    """How long each phase of a simulated driver's visit lasts (seconds, drawn uniformly)."""

    def __init__(self, idle_s: tuple[float, float] = (4.0, 20.0),
                 charge_s: tuple[float, float] = (20.0, 60.0), card_after_s: float = 1.0,
                 start_timeout_s: float = 20.0) -> None:
        self.idle_s = idle_s
        self.charge_s = charge_s
        self.card_after_s = card_after_s
        self.start_timeout_s = start_timeout_s


class Driver:
    """One station's scripted visitor; `tick(now)` advances the script (called ~every second)."""

    def __init__(self, plant: StationPlant, tag: str, schedule: Schedule, rng: random.Random,
                 now: float) -> None:
        self.plant = plant
        self.tag = tag
        self.schedule = schedule
        self.rng = rng
        self.phase = "idle"  # idle | plugged | waiting (card shown) | charging
        self.since = now
        self.next_at = now + rng.uniform(0.5, schedule.idle_s[1] / 2)  # stagger the first visits
        self.sessions = 0  # completed visits that charged
        self.refused = 0  # visits that never got the contactor closed

    def tick(self, now: float) -> None:
        """Do the next scripted step if it is due."""
        p = self.plant
        if self.phase == "waiting" and p.contactor:
            self._go("charging", now, self.rng.uniform(*self.schedule.charge_s))
            return
        if now < self.next_at:
            return
        if self.phase == "idle":
            p.plug_in(Ev(soc_pct=self.rng.uniform(10, 60), max_power_w=self.rng.choice([7_400.0, 11_000.0])))
            self._go("plugged", now, self.schedule.card_after_s)
        elif self.phase == "plugged":
            p.present_tag(self.tag)
            self._go("waiting", now, self.schedule.start_timeout_s)
        elif self.phase == "waiting":  # never started: give up, come back later
            self.refused += 1
            p.unplug()
            self._go("idle", now, self.rng.uniform(*self.schedule.idle_s))
        elif self.phase == "charging":
            p.unplug()
            self.sessions += 1
            self._go("idle", now, self.rng.uniform(*self.schedule.idle_s))

    def _go(self, phase: str, now: float, wait_s: float) -> None:
        self.phase = phase
        self.since = now
        self.next_at = now + wait_s


def plant_status(p: StationPlant) -> str:
    """The OCPP-like status the plant's state implies (used when the backend is not asked)."""
    if not p.link_up:
        return "no controller"
    cp = p.cp_state()
    if cp == "A":
        return "Available"
    if cp == "F":
        return "Faulted"
    if p.contactor:
        return "Charging" if cp in ("C", "D") else "SuspendedEV"
    return "Preparing"


class BackendView:
    """Polls the backend's REST API in a thread (stations and active transactions) for the table."""

    def __init__(self, api_url: str, interval_s: float = 1.0, api_token: str | None = None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_token}"} if api_token else None
        self._http = httpx.Client(base_url=api_url, timeout=3, headers=headers)
        self.interval_s = interval_s
        self.stations: dict[str, dict[str, Any]] = {}
        self.active_tx: dict[str, dict[str, Any]] = {}
        self.error = ""
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="backend-view")
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.stations = {s["id"]: s for s in self._http.get("stations").json()}
                txs = self._http.get("transactions", params={"active": "true"}).json()
                self.active_tx = {t["station_id"]: t for t in txs}
                self.error = ""
            except Exception as e:  # noqa: BLE001 - shown in the table, polling goes on
                self.error = f"{type(e).__name__}: {e}"
            self._stop.wait(self.interval_s)

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._t.join(5)
        self._http.close()


class Fleet:
    """N firmware processes on one plant, each with a scripted driver."""

    def __init__(self, backend_url: str, station_ids: list[str], password: str | dict[str, str],
                 data_dir: Path | str, heap: str | int = FLEET_HEAP, fw_dir: Path | str | None = None,
                 tag: str = DEMO_TAG, schedule: Schedule | None = None, seed: int | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.backend_url = backend_url
        self.station_ids = station_ids
        self.passwords = password if isinstance(password, dict) else {i: password for i in station_ids}
        self.data_dir = Path(data_dir)
        self.heap = heap
        self.fw_dir = fw_dir  # None: the mpy-cross build made at start(), as the HIL tests run it
        self.tag = tag
        self.schedule = schedule or Schedule()
        self.rng = random.Random(seed)
        self.config = config or FLEET_CONFIG
        self.plant: ThreadedPlant | None = None
        self.duts: dict[str, Dut] = {}
        self.drivers: dict[str, Driver] = {}

    def start(self) -> None:
        """Start the plant and every firmware process."""
        if self.fw_dir is None:  # what a board runs (and FLEET_HEAP is measured for): .mpy files
            self.fw_dir = build_mpy.build(FIRMWARE_DIR, self.data_dir / "firmware_mpy")
        self.plant = ThreadedPlant()
        now = time.monotonic()
        for sid in self.station_ids:
            st = station_json(sid, self.backend_url, self.passwords[sid], self.plant.address)
            dut = Dut(self.data_dir / "stations" / sid, st, config=dict(self.config), fw_dir=self.fw_dir,
                      heap=self.heap)
            dut.prepare()  # rewrite station.json: the backend URL may have changed since the last run
            self.duts[sid] = dut
            dut.start()
            self.drivers[sid] = Driver(self.plant.station(sid), self.tag, self.schedule,
                                       random.Random(self.rng.random()), now)

    def tick(self) -> None:
        """Advance every driver's script."""
        now = time.monotonic()
        for d in self.drivers.values():
            d.tick(now)

    def unconfirmed(self) -> dict[str, list[str]]:
        """Per station, the ended transactions (`TX_STOP ltx=`) the backend has not confirmed yet
        (no `TX_ACKED` for them in the firmware's log)."""
        out = {}
        for sid, dut in self.duts.items():
            left = Counter(m.group(1) for m in dut.grep(r"TX_STOP ltx=(\d+)"))
            left.subtract(m.group(1) for m in dut.grep(r"TX_ACKED ltx=(\d+)"))
            pending = sorted(ltx for ltx, n in left.items() if n > 0)
            if pending:
                out[sid] = pending
        return out

    def settle(self, timeout_s: float = 15.0) -> dict[str, list[str]]:
        """Before the processes are stopped: wait up to timeout_s until the backend has confirmed
        every transaction a station ended (a driver who unplugged just before the stop would
        otherwise be billed only when the station next runs, from its journal). Starts no visit.
        Returns what is still unconfirmed."""
        deadline = time.monotonic() + timeout_s
        left = self.unconfirmed()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self.unconfirmed()
        return left

    def stop(self) -> None:
        """Kill every firmware process and stop the plant."""
        for dut in self.duts.values():
            with contextlib.suppress(Exception):
                dut.stop()
        if self.plant is not None:
            self.plant.close()

    def summary(self) -> dict[str, Any]:
        """Per-station figures: completed sessions, refused visits, meter register, firmware restarts."""
        out = {}
        for sid, d in self.drivers.items():
            dut = self.duts[sid]
            out[sid] = {"sessions": d.sessions, "refused": d.refused, "energy_wh": d.plant.energy_wh,
                        "boots": dut.boots, "running": dut.running}
        return out

    def table(self, view: BackendView | None = None) -> Table:
        """The live table: station, connected, status, energy, session."""
        t = Table(title="Frostgrid fleet", caption=view.error if view and view.error else None)
        for col in ("station", "connected", "status", "energy", "session", "firmware"):
            t.add_column(col, justify="right" if col == "energy" else "left")
        now = time.monotonic()
        for sid in self.station_ids:
            d, dut = self.drivers[sid], self.duts[sid]
            p = d.plant
            connected, status = "?", plant_status(p)
            tx_text = ""
            if view is not None and sid in view.stations:
                s = view.stations[sid]
                connected = "[green]yes[/]" if s.get("connected") else "[red]no[/]"
                conns = [c for c in s.get("connectors") or [] if c.get("connector_id", 1) != 0]
                if conns and conns[0].get("status"):
                    status = conns[0]["status"]
                tx = view.active_tx.get(sid)
                if tx:
                    tx_text = f" tx {tx.get('id')}"
            session = f"{d.phase} {now - d.since:4.0f}s{tx_text}"
            fw = "up" if dut.running else "[red]down[/]"
            if dut.boots > 1:
                fw += f" ({dut.boots - 1} restarts)"
            t.add_row(sid, connected, status, f"{p.energy_wh} Wh", session, fw)
        return t


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Let SIGTERM stop the fleet the way Ctrl-C does (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def fleet_ids(n: int) -> list[str]:
    """Station ids of an n-station fleet: FG-0001, FG-0002, ..."""
    return [f"FG-{i:04d}" for i in range(1, n + 1)]


def run_sim(backend_url: str, stations: int = 10, password: str = DEMO_PASSWORD,
            data_dir: Path | str = "demo_run", heap: str | int = FLEET_HEAP, *,
            duration_s: float | None = None, api_url: str | None = None, station_ids: list[str] | None = None,
            fw_dir: Path | str | None = None, tag: str = DEMO_TAG, schedule: Schedule | None = None,
            seed: int | None = None, console: Console | None = None, live: bool = True,
            api_token: str | None = None) -> dict[str, Any]:
    """Run `stations` simulated stations against `backend_url` (`ws://H:P/ocpp`) until Ctrl-C or
    `duration_s`; show a live table; return `Fleet.summary()`. The stations must be registered."""
    ids = station_ids or fleet_ids(stations)
    console = console or Console()
    fleet = Fleet(backend_url, ids, password, data_dir, heap, fw_dir, tag, schedule, seed)
    view = BackendView(api_url, api_token=api_token) if api_url else None
    deadline = time.monotonic() + duration_s if duration_s is not None else None
    with sigterm_as_ctrl_c():
        try:
            fleet.start()
            with Live(fleet.table(view), console=console, refresh_per_second=2, auto_refresh=live,
                      transient=False) as lv:
                while deadline is None or time.monotonic() < deadline:
                    fleet.tick()
                    lv.update(fleet.table(view))
                    time.sleep(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))
        except KeyboardInterrupt:
            console.print("\nstopping the fleet ...")
        finally:
            if view is not None:
                view.close()
            try:
                left = fleet.settle()
                if left:
                    console.print(f"not yet confirmed by the backend (kept in the stations' journals, "
                                  f"sent at their next start): {left}")
            except KeyboardInterrupt:
                console.print("stopping without waiting for the backend's confirmations")
            finally:
                fleet.stop()
    return fleet.summary()


def run_demo(stations: int = 10, data_dir: Path | str = "demo_run", duration_s: float | None = None,
             heap: str | int = FLEET_HEAP, password: str = DEMO_PASSWORD, tag: str = DEMO_TAG,
             fw_dir: Path | str | None = None, schedule: Schedule | None = None, seed: int | None = None,
             console: Console | None = None) -> dict[str, Any]:
    """`make demo`: backend on SQLite in `data_dir`, `stations` registered stations and a demo card,
    the fleet running until Ctrl-C (or `duration_s`). Everything started is stopped on the way out."""
    console = console or Console()
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    # Demo logins, printed below: an admin (created by the backend at start) and an operator.
    admin_password, operator_password = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
    backend = BackendProc(sqlite_url(data / "frostgrid.db"), cwd=data,
                          env={"FROSTGRID_ADMIN_USER": "admin", "FROSTGRID_ADMIN_PASSWORD": admin_password})
    ids = fleet_ids(stations)
    with sigterm_as_ctrl_c():
        try:
            backend.start()
            known = {s["id"] for s in backend.stations()}
            for i, sid in enumerate(ids):
                if sid not in known:  # placed around Harbin for the dashboard's map
                    backend.post("stations", {"id": sid, "password": password,
                                              **demo_position(i)}).raise_for_status()
            backend.add_token(tag)
            backend.http.delete("users/operator")
            backend.post("users", {"username": "operator", "password": operator_password,
                                   "role": "operator"}).raise_for_status()
            console.print(f"[bold]Frostgrid demo[/]: {stations} stations, card {tag!r}")
            console.print(f"Log in as admin / {admin_password}  or  operator / {operator_password}")
            console.print(f"Dashboard: {backend.api_url.split('/api/')[0]}/ui/")
            console.print(f"API:  {backend.api_url}  (OpenAPI: {backend.api_url.split('/api/')[0]}/docs)")
            console.print(f"OCPP: {backend.ocpp_url}/{{station_id}}")
            console.print("Ctrl-C stops everything.")
            return run_sim(backend.ocpp_url, stations, password, data, heap, duration_s=duration_s,
                           api_url=backend.api_url, api_token=backend.admin_token, station_ids=ids,
                           fw_dir=fw_dir, tag=tag,
                           schedule=schedule, seed=seed, console=console)
        except KeyboardInterrupt:
            console.print("stopped")
            return {}
        finally:
            backend.stop()


if __name__ == "__main__":
    run_demo()
