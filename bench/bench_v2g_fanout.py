"""V2G fan-out benchmark: one backend dispatching profiles to many lightweight simulated stations.

`python -m bench.bench_v2g_fanout [N]` (part of `make bench-v2g`; N defaults to 10,000) starts a
backend (SQLite, its own process) with N stations in one dispatch group, then from this process
connects N minimal OCPP 1.6 clients (one WebSocket each; they start a transaction, answer
GetConfiguration with ``FrostgridDischargeCapable=false`` and accept every profile, noting when it
arrived) and measures, through the REST API with a dispatcher token:

- fan-out: an order for the group is posted; per station, the time from the post until its
  SetChargingProfile arrived (``fanout_ack_p50/p95/p99_s``; ``fanout_all_s`` until the last);
- shed: an emergency order "group to 0 kW" replaces it; per station, the time from the post until
  its 0 W profile arrived (``shed_p50/p95/p99_s``, ``shed_all_s``).

A warm-up order first (the dispatcher asks each station once for its discharge key) is cancelled
before measuring. Station passwords are stored with cheap scrypt parameters (the stored form
carries them): the benchmark measures dispatch, not 10,000 deliberate password hashes at connect.
Results: bench/results/v2g_fanout.json.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import websockets

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PASSWORD = "fanout-password"
GROUP = "fanout"


def cheap_hash(password: str) -> str:
    """A valid stored password with scrypt n=16 (benchmark only)."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt$4$8$1${b64(salt).decode()}${b64(digest).decode()}"


def station_ids(n: int) -> list[str]:
    return [f"FO-{i:05d}" for i in range(n)]


def serve_backend(n: int, directory: str, conn: Connection) -> None:
    """The backend process: register N stations in one group, report URLs and a token, run until told."""

    async def main() -> None:
        from sqlalchemy import insert

        from ocpp_backend.backend import Backend
        from ocpp_backend.dispatch.models import DispatchGroup, GroupStation
        from ocpp_backend.dispatch.service import Dispatcher
        from ocpp_backend.models import Station
        from ocpp_backend.settings import Settings

        settings = Settings(
            db_url=f"sqlite+aiosqlite:///{directory}/fanout.db",
            host="127.0.0.1",
            ocpp_port=0,
            http_port=0,
            command_timeout_s=300.0,
            ws_ping_interval_s=None,
            last_seen_every_s=3600.0,
        )
        backend = Backend(settings)
        backend.dispatcher = Dispatcher(backend.services, step_s=3600.0, telemetry_s=1e9)
        await backend.start()
        ids = station_ids(n)
        stored = cheap_hash(PASSWORD)
        async with backend.db.session() as session:
            await session.execute(
                insert(Station), [{"id": s, "password_hash": stored, "connected": False} for s in ids]
            )
            await session.execute(insert(DispatchGroup), [{"id": GROUP}])
            await session.execute(
                insert(GroupStation),
                [
                    {
                        "station_id": s,
                        "group_id": GROUP,
                        "charge_kw": 7.0,
                        "discharge_kw": 6.0,
                        "capacity_kwh": 60.0,
                        "arrival_soc_pct": 40.0,
                        "dwell_h": 12.0,
                        "required_soc_pct": 80.0,
                        "reserve_soc_pct": 30.0,
                    }
                    for s in ids
                ],
            )
        await backend.dispatcher.reload_groups()
        token = (await backend.services.access.create_token("dispatcher", "fanout-bench")).token
        conn.send((backend.ocpp_url, backend.api_url, token))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        await backend.stop()

    profile_to = os.environ.get("FROSTGRID_BENCH_PROFILE")  # cProfile the backend into this file
    if not profile_to:
        asyncio.run(main())
        return
    import cProfile

    cProfile.runctx("asyncio.run(main())", globals(), {"asyncio": asyncio, "main": main}, profile_to)


class Stations:
    """N minimal OCPP clients in this process; ``arrivals[action]`` = [(t, station, limit)]."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[tuple[float, str, float | None]]] = {}
        self.sockets: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.retries = 0  # handshakes tried again

    async def open(self, ocpp_url: str, station_id: str) -> None:
        auth = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
        for attempt in range(5):  # a backend busy accepting thousands of sockets may drop a handshake
            try:
                ws = await websockets.connect(
                    f"{ocpp_url}/{station_id}",
                    subprotocols=["ocpp1.6"],
                    additional_headers={"Authorization": f"Basic {auth}"},
                    open_timeout=300,
                    ping_interval=None,
                    max_queue=None,
                )
                break
            except (OSError, websockets.exceptions.InvalidMessage, websockets.exceptions.InvalidStatus):
                if attempt == 4:
                    raise
                self.retries += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        self.sockets.append(ws)
        start = {"connectorId": 1, "idTag": "FANOUT", "meterStart": 0, "timestamp": "2026-12-21T17:00:00Z"}
        for attempt in range(10):  # a CALLERROR (backend store busy) is tried again
            await ws.send(json.dumps([2, f"s{attempt}", "StartTransaction", start]))
            frame = json.loads(await ws.recv())
            while frame[1] != f"s{attempt}":
                frame = json.loads(await ws.recv())
            if frame[0] == 3:
                break
            self.retries += 1
            await asyncio.sleep(1.0)
        self.tasks.append(asyncio.create_task(self.serve(ws, station_id)))

    async def serve(self, ws: Any, station_id: str) -> None:
        with_config = {
            "configurationKey": [{"key": "FrostgridDischargeCapable", "readonly": True, "value": "false"}]
        }
        async for raw in ws:
            frame = json.loads(raw)
            if frame[0] != 2:
                continue
            uid, action, payload = frame[1], frame[2], frame[3]
            limit = None
            if action == "SetChargingProfile":
                limit = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0][
                    "limit"
                ]
            self.arrivals.setdefault(action, []).append((time.perf_counter(), station_id, limit))
            answer: dict[str, Any] = with_config if action == "GetConfiguration" else {"status": "Accepted"}
            await ws.send(json.dumps([3, uid, answer]))

    async def wait_for(
        self, action: str, since: float, count: int, timeout_s: float, limit: float | None = None
    ) -> list[float]:
        """Times (s after ``since``) of the first ``action`` per station after ``since``."""
        deadline = time.perf_counter() + timeout_s
        while True:
            first: dict[str, float] = {}
            for t, station, got in self.arrivals.get(action, []):
                if t >= since and (limit is None or got == limit) and station not in first:
                    first[station] = t - since
            if len(first) >= count or time.perf_counter() > deadline:
                return sorted(first.values())
            await asyncio.sleep(0.2)


def order(order_id: str, kw: float, priority: str = "normal") -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "order_id": order_id,
        "revision": 1,
        "party": "bench",
        "group": GROUP,
        "mode": "absolute",
        "intervals": [
            {
                "start": (start + timedelta(minutes=15 * k)).strftime(iso),
                "target_kw": kw,
                "tolerance_kw": max(1.0, abs(kw) * 0.1),
            }
            for k in range(4)
        ],
        "response_deadline": (now + timedelta(minutes=5)).strftime(iso),
        "priority": priority,
        "fallback": "normal",
    }


def quantiles(values: list[float], prefix: str, n: int) -> dict[str, float]:
    if len(values) < 2:
        return {f"{prefix}_stations_reached": len(values)}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        f"{prefix}_p50_s": q[49],
        f"{prefix}_p95_s": q[94],
        f"{prefix}_p99_s": q[98],
        f"{prefix}_all_s": values[-1] if len(values) == n else float("nan"),
        f"{prefix}_stations_reached": len(values),
    }


def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far, from /proc (0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spy(pid: int, name: str, seconds: int) -> Any:
    """With FROSTGRID_BENCH_SPY=<dir>: sample ``pid`` with py-spy for ``seconds`` (a flame graph of
    the measured window only, without cProfile's overhead); None otherwise."""
    out = os.environ.get("FROSTGRID_BENCH_SPY")
    if not out:
        return None
    import subprocess

    spy_bin = Path(sys.executable).with_name("py-spy")
    args = [str(spy_bin), "record", "-p", str(pid), "-d", str(seconds), "-r", "200", "--nonblocking"]
    return subprocess.Popen(
        [*args, "-f", "raw", "-o", f"{out}/{name}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def measure(
    n: int, ocpp_url: str, api_url: str, token: str, backend_pid: int = 0
) -> dict[str, float]:
    stations = Stations()
    ids = station_ids(n)
    started = time.perf_counter()
    gate = asyncio.Semaphore(50)  # the backend's store pool takes about this many at once

    async def open_one(station_id: str) -> None:
        async with gate:
            await stations.open(ocpp_url, station_id)

    await asyncio.gather(*(open_one(s) for s in ids))
    figures: dict[str, float] = {
        "stations": n,
        "connect_all_s": time.perf_counter() - started,
        "connect_retries": stations.retries,
    }
    await asyncio.sleep(2.0)  # the dispatcher takes in the session events
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=600) as api:
        t0 = time.perf_counter()
        ack = (await api.post("/dispatch/orders", json=order("WARMUP", 3.0 * n))).json()
        assert ack["stage"] in ("accepted", "partial"), ack
        warm = await stations.wait_for("SetChargingProfile", t0, n, 600)
        figures["warmup_all_s"] = warm[-1] if warm else float("nan")
        t1 = time.perf_counter()
        await api.post("/dispatch/orders/WARMUP/cancel")
        await stations.wait_for("ClearChargingProfile", t1, n, 600)
        spies = [spy(backend_pid, "backend", 15), spy(os.getpid(), "stations", 15)]
        await asyncio.sleep(1.0 if any(spies) else 0.0)
        cpu0 = (cpu_s(backend_pid), cpu_s(os.getpid()))
        t2 = time.perf_counter()
        ack = (await api.post("/dispatch/orders", json=order("FANOUT", 2.0 * n))).json()
        figures["order_ack_s"] = time.perf_counter() - t2
        figures.update(quantiles(await stations.wait_for("SetChargingProfile", t2, n, 600), "fanout_ack", n))
        t3 = time.perf_counter()
        ack = (await api.post("/dispatch/orders", json=order("SHED", 0.0, "emergency"))).json()
        assert ack["stage"] in ("accepted", "partial"), ack
        figures["shed_order_ack_s"] = time.perf_counter() - t3
        figures.update(quantiles(await stations.wait_for("SetChargingProfile", t3, n, 600, 0.0), "shed", n))
        # CPU used over both measured fan-outs: the backend's, and these simulated stations'
        figures["backend_cpu_s"] = cpu_s(backend_pid) - cpu0[0]
        figures["stations_cpu_s"] = cpu_s(os.getpid()) - cpu0[1]
    for ws in stations.sockets:
        await ws.close()
    for task in stations.tasks:
        task.cancel()
    return figures


def main() -> None:
    """Run with N stations (argv[1], default 10,000); print and write the figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory:
        parent, child = ctx.Pipe()
        backend = ctx.Process(target=serve_backend, args=(n, directory, child))
        backend.start()
        try:
            ocpp_url, api_url, token = parent.recv()
            figures = asyncio.run(measure(n, ocpp_url, api_url, token, backend.pid or 0))
        finally:
            parent.send("stop")
            backend.join(120)
            if backend.is_alive():
                backend.terminate()
    figures_out: dict[str, Any] = dict(figures)
    figures_out["cpus"] = os.cpu_count()
    for key, value in figures_out.items():
        unit = "s" if key.endswith("_s") else ""
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key}: {shown} {unit}".rstrip())
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "v2g_fanout.json" if n == 10_000 else f"v2g_fanout_{n}.json"
    (RESULTS / name).write_text(json.dumps(figures_out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
