"""The backend as a subprocess: `frostgrid backend` on free ports, plus REST helpers for tests.

`BackendProc(db_url).start()` runs `frostgrid backend --host 127.0.0.1 --port 0 --http-port 0
--db URL`, reads the `OCPP: ws://H:P/ocpp/{station_id}` and `API: http://H:HP/api/v1/` lines it
prints, and waits until the API answers. `restart()` brings it back on the same ports, so devices
configured with the first URL find it again. The REST helpers read what the backend stored
(stations, transactions, meter values) for comparison with the plant's truth.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hil_tests.dut import REPO_DIR, _die_with_parent

T = TypeVar("T")

_OCPP_LINE = re.compile(r"OCPP:\s*(ws://([\w.\-]+):(\d+)(/\S*?))(?:/\{station_id\})?\s*$")
_API_LINE = re.compile(r"API:\s*(http://([\w.\-]+):(\d+)/\S*)")


def frostgrid_binary() -> str:
    """The `frostgrid` command of the project's virtual environment (or on PATH)."""
    for c in (Path(sys.executable).parent / "frostgrid", REPO_DIR / ".venv" / "bin" / "frostgrid",
              shutil.which("frostgrid")):
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError("frostgrid command not found: pip install -e .")


def sqlite_url(path: Path | str) -> str:
    """SQLAlchemy async URL of an SQLite file."""
    return f"sqlite+aiosqlite:///{Path(path).resolve()}"


def wait_until(fn: Callable[[], T], timeout: float = 15, interval: float = 0.2, what: str = "") -> T:
    """Call `fn` until it returns something truthy (returned) or `timeout` passes (AssertionError).

    Exceptions from `fn` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - polling: report the last failure on timeout
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}: last={last!r}")
        time.sleep(interval)


class BackendProc:
    """A `frostgrid backend` subprocess and a REST client for it."""

    def __init__(self, db_url: str, host: str = "127.0.0.1", cwd: Path | str | None = None,
                 env: dict[str, str] | None = None, echo: bool = False,
                 args: list[str] | None = None) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("tests run the backend on loopback only")
        self.db_url = db_url
        self.host = host
        self.cwd = Path(cwd) if cwd else None
        self.env = env
        self.echo = echo
        self.args = list(args or [])  # more `frostgrid backend` options, e.g. ["--heartbeat", "2"]
        self.port = 0  # OCPP port; 0 until the first start picked one
        self.http_port = 0
        self.ocpp_url = ""  # e.g. ws://127.0.0.1:P/ocpp (station id appended by devices)
        self.api_url = ""  # e.g. http://127.0.0.1:HP/api/v1/
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._http: httpx.Client | None = None
        # The REST API needs credentials: the backend registers this admin token at start.
        self.admin_token = (env or {}).get("FROSTGRID_ADMIN_TOKEN") or "fgt_" + secrets.token_urlsafe(24)

    # --- process --------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env or {})
        env["PYTHONUNBUFFERED"] = "1"
        env["FROSTGRID_ADMIN_TOKEN"] = self.admin_token
        env.pop("FROSTGRID_DB", None)
        return env

    def start(self, timeout: float = 60) -> BackendProc:
        """Start and wait until both URLs are printed and the API answers."""
        if self.running:
            raise RuntimeError("backend already running")
        cmd = [frostgrid_binary(), "backend", "--host", self.host, "--port", str(self.port),
               "--http-port", str(self.http_port), "--db", self.db_url, *self.args]
        with self._cond:
            self.lines.append(f"#HIL start {' '.join(cmd)}")
            n0 = len(self.lines)
        self._proc = subprocess.Popen(cmd, cwd=self.cwd, env=self._env(), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      bufsize=1, errors="replace", preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True,
                                        name="backend-out")
        self._reader.start()
        ocpp = api = None
        deadline = time.monotonic() + timeout
        failed = False
        with self._cond:
            i = n0
            while ocpp is None or api is None:
                while i < len(self.lines):
                    line = self.lines[i]
                    i += 1
                    ocpp = ocpp or _OCPP_LINE.search(line)
                    api = api or _API_LINE.search(line)
                if ocpp is not None and api is not None:
                    break
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    failed = True
                    break
                self._cond.wait(0.2)
        if failed or ocpp is None or api is None:
            self._kill()
            raise RuntimeError(f"backend did not start (rc={self._proc.returncode}); output:\n" + self.tail())
        self.ocpp_url = ocpp.group(1)
        if "{station_id}" in self.ocpp_url or self.ocpp_url.endswith("/"):
            self.ocpp_url = self.ocpp_url.split("{station_id}")[0].rstrip("/")
        self.port = int(ocpp.group(3))
        self.api_url = api.group(1) if api.group(1).endswith("/") else api.group(1) + "/"
        self.http_port = int(api.group(3))
        self._http = httpx.Client(base_url=self.api_url, timeout=15,
                                  headers={"Authorization": f"Bearer {self.admin_token}"})
        wait_until(self._healthy, timeout=max(5.0, deadline - time.monotonic()), what="backend API")
        return self

    def _healthy(self) -> bool:
        assert self._http is not None
        for url in ("healthz", f"http://{self.host}:{self.http_port}/healthz", "stations"):
            with contextlib.suppress(httpx.HTTPError):
                if self._http.get(url).status_code == 200:
                    return True
        return False

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
            if self.echo:
                print(f"[backend] {line}", end="", flush=True)
        with self._cond:
            self.lines.append(f"#HIL backend exit rc={proc.wait()}")
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        """True while the backend process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)

    def stop(self, timeout: float = 10) -> None:
        """Stop gracefully (SIGINT, like Ctrl-C), then SIGKILL after `timeout`."""
        if self._http is not None:
            self._http.close()
            self._http = None
        p = self._proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def kill9(self) -> None:
        """SIGKILL the backend (a crash)."""
        self._kill()

    def restart(self, timeout: float = 60) -> BackendProc:
        """Stop and start again on the same ports."""
        self.stop()
        return self.start(timeout)

    def tail(self, n: int = 60) -> str:
        """The backend's last output lines."""
        with self._cond:
            return "\n".join(self.lines[-n:])

    def __enter__(self) -> BackendProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- CLI ------------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 60) -> str:
        """Run `frostgrid ARGS... --db URL` and return its output (raises on failure)."""
        proc = subprocess.run([frostgrid_binary(), *args, "--db", self.db_url], cwd=self.cwd, env=self._env(),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"frostgrid {' '.join(args)} failed (rc={proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    # --- REST -----------------------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        """An httpx client whose base URL is the API root (`.../api/v1/`)."""
        if self._http is None:
            raise RuntimeError("backend not started")
        return self._http

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` (relative to /api/v1/) and return the JSON body (raises on HTTP errors)."""
        r = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST JSON to `path` (relative to /api/v1/)."""
        return self.http.post(path, json=body)

    def add_station(self, station_id: str, password: str) -> None:
        """Register a station (REST when running, else the CLI)."""
        if self.running:
            r = self.post("stations", {"id": station_id, "password": password})
            if r.status_code in (200, 201):
                return
            raise RuntimeError(f"POST /stations {station_id}: {r.status_code} {r.text}")
        self.cli("station", "add", station_id, "--password", password)

    def add_token(self, id_tag: str) -> None:
        """Register an accepted RFID token (REST `id-tokens` when running, else `frostgrid idtag add`)."""
        if self.running:
            r = self.post("id-tokens", {"id_tag": id_tag, "status": "Accepted"})
            if r.status_code in (200, 201, 409):
                return
            raise RuntimeError(f"POST /id-tokens {id_tag}: {r.status_code} {r.text}")
        self.cli("idtag", "add", id_tag)

    def stations(self) -> list[dict[str, Any]]:
        """GET /stations."""
        return self.get("stations")

    def station(self, station_id: str) -> dict[str, Any]:
        """GET /stations/{id}."""
        return self.get(f"stations/{station_id}")

    def connected(self, station_id: str) -> bool:
        """The backend holds a connection of `station_id` now."""
        return bool(self.station(station_id).get("connected"))

    def transactions(self, station_id: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
        """GET /transactions (optionally filtered)."""
        params: dict[str, Any] = {"station_id": station_id}
        if active is not None:
            params["active"] = "true" if active else "false"
        return self.get("transactions", **params)

    def transaction(self, tx_id: int | str) -> dict[str, Any]:
        """GET /transactions/{id} with its meter values."""
        return self.get(f"transactions/{tx_id}")

    def full_transactions(self, station_id: str) -> list[dict[str, Any]]:
        """Every transaction of a station with its meter values, oldest first."""
        txs = sorted(self.transactions(station_id), key=lambda t: t["id"])
        return [self.transaction(t["id"]) for t in txs]
