"""V2G response time with real firmware: how long a group takes to follow a dispatch order.

`python -m bench.bench_v2g_t90 [N]` (part of `make bench-v2g`; N defaults to 20) starts a backend
(`frostgrid backend` on SQLite, its own process, production settings: the dispatcher re-allocates
every `step_s` = 60 s and at once on an order), a plant and N MicroPython stations (the unix port
running the `mpy-cross` build, heap `FLEET_HEAP`). Every second station is discharge-capable
(station.json `discharge_capable`). Each station gets a bidirectional EV (60 kWh, 50–70 % SoC,
7.4 kW both ways) and a session; the dispatch group's defaults say 7.4 kW charge and discharge,
and each EV's needs are set through the API (departure in 8 h at 80 %, reserve 30 %), so the
allocator can commit the order in full. The stations keep the firmware's defaults
(`MeterValueSampleInterval` 60 s) except `MeterValuesSampledData`, which is the V2G set
(import and export power and register, SoC): without the export measurands the backend cannot see
a discharge.

Once the group charges steadily (every EV at 7.4 kW at the plant, and a power reading of every
station at the backend), an order is posted through the REST API with a dispatcher token: the
group to −3 kW per discharge-capable station (absolute; the current quarter-hour and the two
after it), e.g. from +148 kW to −30 kW for N = 20. Measured from the POST:

- ``t90_s``: the group's power at the plant meters (the truth, sampled every 0.25 s) first
  covers 90 % of the ordered change, ``(P − P_before)·sign ≥ 0.9·|P_target − P_before|``, and
  stays there until the end of the observation; ``t50_s`` the same at 50 %;
- ``backend_t90_s`` / ``backend_t50_s``: the same on the group power the backend sees (the last
  ``Power.Active.Import − Power.Active.Export`` of each station, from its live event stream);
  bounded by the stations' sample interval;
- ``t_all_profiles_s``: until every station had accepted its profile (the firmware's
  ``PROFILE_SET`` log line);
- per station: when it accepted its profile, when its limit at the plant began to move, its own
  t90 at the plant, its power before and after and its power steps (``power_changes``).

The dispatcher makes up within a settlement interval what early steps missed (energy drawn
before the order counts), so within the first quarter-hour the group may go beyond the target in
the ordered direction; that still counts as covered. Everything started is stopped on the way out,
also on Ctrl-C or SIGTERM; the run directory (backend database, `stations/*/dut.log`) is kept
when the run fails or ``FROSTGRID_T90_KEEP`` is set. Results: bench/results/v2g_t90.json (other
N: v2g_t90_<N>.json).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hil_tests import build_mpy
from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.dut import FIRMWARE_DIR, Dut, DutTimeout, station_json
from hil_tests.ev_bidir import BidirEv
from hil_tests.fleet import FLEET_HEAP, sigterm_as_ctrl_c
from hil_tests.plant import StationPlant, ThreadedPlant

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GROUP = "t90"
CARD = "T90-CARD"
PASSWORD = "t90-bench-secret"
EV_W = 7_400.0  # each EV's charge and discharge rating (single-phase 32 A)
DISCHARGE_EACH_KW = 3.0  # the order: this much export per discharge-capable station, the others idle
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Power.Active.Export,SoC"
SAMPLE_S = 0.25  # plant sampling period
STEADY_HOLD_S = 5.0  # steady state held this long before the order
HOLD_S = 15.0  # a response counts once it held this long (and until the observation ends)
BOOT_TIMEOUT_S = 120.0


def settle_time(trace: Sequence[tuple[float, float]], t0: float, p_before: float, p_target: float,
                fraction: float) -> float | None:
    """Seconds after `t0` from which the power in `trace` ((time, W) by time) covers `fraction` of
    the ordered change from `p_before` to `p_target` in its direction and stays covered up to the
    trace's last sample; None if the last sample does not cover it (or no sample is after `t0`).
    Overshooting in the ordered direction counts as covered."""
    change = p_target - p_before
    if change == 0:
        return 0.0
    sign = 1.0 if change > 0 else -1.0
    need = fraction * abs(change)
    since: float | None = None
    for t, p in trace:
        if t < t0:
            continue
        if (p - p_before) * sign >= need:
            if since is None:
                since = t
        else:
            since = None
    return None if since is None else since - t0


class PlantSampler:
    """Samples every station's plant in a thread: `trace[i]` = (time.monotonic(), [W per station],
    [the firmware's limit at the plant per station, W; None before it set one])."""

    def __init__(self, plants: list[StationPlant]) -> None:
        self.plants = plants
        self.trace: list[tuple[float, list[float], list[float | None]]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="t90-plant-sampler")
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.trace.append((time.monotonic(), [p.power_w for p in self.plants],
                               [p.limit_w for p in self.plants]))
            self._stop.wait(SAMPLE_S)

    def group(self) -> list[tuple[float, float]]:
        """(time, group W) of every sample."""
        return [(t, sum(ps)) for t, ps, _ in list(self.trace)]

    def station(self, i: int) -> list[tuple[float, float]]:
        """(time, W) of station `i`."""
        return [(t, ps[i]) for t, ps, _ in list(self.trace)]

    def limit_changed(self, i: int, after: float) -> float | None:
        """Time of the first sample after `after` at which station `i`'s limit at the plant differs
        from the one it had at `after` (the firmware began to move), or None."""
        before: float | None = None
        for t, _, limits in list(self.trace):
            if t <= after:
                before = limits[i]
            elif limits[i] != before:
                return t
        return None

    def mean_group(self, since: float, until: float) -> float:
        """Mean group power of the samples in [since, until]."""
        values = [p for t, p in self.group() if since <= t <= until]
        return statistics.fmean(values) if values else math.nan

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._t.join(5)


class BackendPower:
    """The group power the backend sees: the last net power reading of each station, from the
    backend's Server-Sent Events stream (`meter.readings`), read in a thread."""

    def __init__(self, api_url: str, token: str, stations: list[str]) -> None:
        self.stations = set(stations)
        self.last_w: dict[str, float] = {}
        self.trace: list[tuple[float, float]] = []  # (time.monotonic(), group W) after each reading
        self.error = ""
        self._client = httpx.Client(base_url=api_url, timeout=httpx.Timeout(10.0, read=None),
                                    headers={"Authorization": f"Bearer {token}"})
        self._response: httpx.Response | None = None  # the open stream (closed to end it)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="t90-backend-events")
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._client.stream("GET", "events", params={"kinds": "meter.readings"}) as r:
                    self._response = r
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("data:"):
                            self._take(json.loads(line[5:]))
            except Exception as e:  # noqa: BLE001 - reported with the figures; the stream is re-opened
                if self._stop.is_set():
                    return
                self.error = f"{type(e).__name__}: {e}"
                if isinstance(e, httpx.HTTPStatusError) and e.response.status_code in (401, 403, 404):
                    return  # will not get better: the wait for readings reports it
                self._stop.wait(0.5)

    def _take(self, event: dict[str, Any]) -> None:
        sid = event.get("station_id")
        if event.get("kind") != "meter.readings" or sid not in self.stations:
            return
        values = {r.get("measurand"): float(r["value"]) for r in event["data"].get("readings", [])
                  if r.get("phase") in (None, "")}
        if "Power.Active.Import" not in values and "Power.Active.Export" not in values:
            return  # a transaction's begin or end value: energy only
        self.last_w[sid] = values.get("Power.Active.Import", 0.0) - values.get("Power.Active.Export", 0.0)
        if len(self.last_w) == len(self.stations):
            self.trace.append((time.monotonic(), sum(self.last_w.values())))

    @property
    def alive(self) -> bool:
        """The stream reader still runs."""
        return self._t.is_alive()

    @property
    def complete(self) -> bool:
        """Every station has reported a power reading."""
        return len(self.last_w) == len(self.stations)

    def close(self) -> None:
        """Stop reading the stream (closed from here: an open stream keeps the backend from
        shutting down gracefully)."""
        self._stop.set()
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()
        self._t.join(5)
        self._client.close()


def order(n_intervals: int, target_kw: float, now: datetime) -> dict[str, Any]:
    """An absolute order for the group from the current quarter-hour on."""
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "order_id": f"T90-{now.strftime('%H%M%S')}", "revision": 1, "party": "bench", "group": GROUP,
        "mode": "absolute",
        "intervals": [{"start": (start + timedelta(minutes=15 * k)).strftime(iso), "target_kw": target_kw,
                       "tolerance_kw": max(1.0, abs(target_kw) * 0.1)} for k in range(n_intervals)],
        "response_deadline": (now + timedelta(minutes=5)).strftime(iso),
        "priority": "normal", "fallback": "normal",
    }


def changes(trace: Sequence[tuple[float, float]], t0: float, min_w: float = 50.0) -> list[list[float]]:
    """[[s after t0, W], ...] of a trace from t0 on, only where the power moved by `min_w` or more."""
    out: list[list[float]] = []
    for t, p in trace:
        if t >= t0 and (not out or abs(p - out[-1][1]) >= min_w):
            out.append([round(t - t0, 2), round(p)])
    return out


def station_ids(n: int) -> list[str]:
    """T90-001, T90-002, ..."""
    return [f"T90-{i:03d}" for i in range(1, n + 1)]


def dispatcher_step_s() -> float:
    """The dispatcher's production step (its constructor's default, which the backend uses)."""
    import inspect

    from ocpp_backend.dispatch.service import Dispatcher

    return float(inspect.signature(Dispatcher.__init__).parameters["step_s"].default)


def line_time(dut: Dut, pattern: str, after: float) -> float | None:
    """time.monotonic() of the first log line matching `pattern` that arrived after `after`."""
    rx = re.compile(pattern)
    return next((t for t, line in dut.line_times() if t >= after and rx.search(line)), None)


class Rig:
    """The backend, the plant and the stations; `close()` stops whatever was started."""

    def __init__(self, n: int, directory: Path) -> None:
        self.n = n
        self.dir = directory
        self.ids = station_ids(n)
        self.capable = [i % 2 == 0 for i in range(n)]
        self.backend: BackendProc | None = None
        self.plant: ThreadedPlant | None = None
        self.duts: list[Dut] = []
        self.plants: list[StationPlant] = []
        self.token = ""

    def start(self) -> None:
        """Backend with the group and a dispatcher token, plant, stations booted."""
        fw = build_mpy.build(FIRMWARE_DIR, self.dir / "firmware_mpy")
        self.backend = BackendProc(sqlite_url(self.dir / "t90.db"), cwd=self.dir)
        self.backend.start()
        b = self.backend
        b.add_token(CARD)
        for sid in self.ids:
            b.add_station(sid, PASSWORD)
        r = b.http.put(f"dispatch/groups/{GROUP}", json={"stations": self.ids, "charge_kw": EV_W / 1000,
                                                         "discharge_kw": EV_W / 1000})
        r.raise_for_status()
        r = b.post("tokens", {"role": "dispatcher", "name": "t90-bench"})
        r.raise_for_status()
        self.token = r.json()["token"]
        self.plant = ThreadedPlant()
        for sid, cap in zip(self.ids, self.capable, strict=True):
            st = station_json(sid, b.ocpp_url, PASSWORD, self.plant.address, discharge_capable=cap)
            dut = Dut(self.dir / "stations" / sid, st, config={"MeterValuesSampledData": MEASURANDS},
                      fw_dir=fw, heap=FLEET_HEAP)
            self.duts.append(dut)
            self.plants.append(self.plant.station(sid))
            dut.start()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        for dut in self.duts:
            try:
                dut.wait_for(r"BOOT_ACCEPTED", max(1.0, deadline - time.monotonic()), since=0)
            except DutTimeout as e:
                raise RuntimeError(f"station {dut.id} did not boot within {BOOT_TIMEOUT_S:.0f} s "
                                   f"(exits {dut.exits}); its log ({dut.data_dir / 'dut.log'}):\n"
                                   f"{dut.tail(30)}") from e

    def plug_in(self, rng: random.Random) -> list[float]:
        """An EV and a session at every station; their needs through the API; the SoCs at plug-in."""
        assert self.backend is not None
        socs = [round(rng.uniform(50.0, 70.0), 1) for _ in self.ids]
        marks = [dut.mark() for dut in self.duts]
        for p, soc in zip(self.plants, socs, strict=True):
            p.plug_in(BidirEv(capacity_wh=60_000.0, soc_pct=soc, max_power_w=EV_W, max_discharge_w=EV_W))
            p.present_tag(CARD)
        departure = (datetime.now(UTC) + timedelta(hours=8)).isoformat()
        for dut, mark, soc in zip(self.duts, marks, socs, strict=True):
            try:
                dut.wait_for(r"TX_BOUND ltx=\d+ txid=\d+", 60, since=mark)
            except DutTimeout as e:
                raise RuntimeError(f"station {dut.id} did not start its transaction:\n{dut.tail(30)}") from e
            r = self.backend.http.put(f"dispatch/needs/{dut.id}", json={
                "capacity_kwh": 60.0, "departure": departure, "required_soc_pct": 80.0,
                "reserve_soc_pct": 30.0, "soc_pct": soc})
            r.raise_for_status()
        return socs

    def sample_interval_s(self) -> int:
        """MeterValueSampleInterval as the first station reports it (GetConfiguration)."""
        assert self.backend is not None
        answer = self.backend.get(f"stations/{self.ids[0]}/configuration", key=["MeterValueSampleInterval"])
        return int(answer["configuration_key"][0]["value"])

    def close(self) -> None:
        """Stop the stations, the plant and the backend (each even if another fails)."""
        for dut in self.duts:
            with contextlib.suppress(Exception):
                dut.stop()
        if self.plant is not None:
            with contextlib.suppress(Exception):
                self.plant.close()
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.backend.stop()


def measure(rig: Rig, rng: random.Random) -> dict[str, Any]:
    """Steady charging, the order, the response; the figures."""
    assert rig.backend is not None
    socs = rig.plug_in(rng)
    sample_s = rig.sample_interval_s()
    sampler = PlantSampler(rig.plants)
    # the event stream needs a reader's role (viewer and up): the admin token; orders go with the
    # dispatcher token, as a grid party's would
    view = BackendPower(rig.backend.api_url, rig.backend.admin_token, rig.ids)
    try:
        wait_until(lambda: all(abs(p.power_w - EV_W) < 100 for p in rig.plants), 60,
                   what="every EV charging at its rating")
        wait_until(lambda: view.complete or not view.alive, sample_s + 30, interval=0.5,
                   what=f"a power reading of every station at the backend ({view.error or 'no error'})")
        if not view.complete:
            raise RuntimeError(f"the backend's event stream failed: {view.error}")
        time.sleep(STEADY_HOLD_S)
        n_capable = sum(rig.capable)
        target_kw = -DISCHARGE_EACH_KW * n_capable
        body = order(3, target_kw, datetime.now(UTC))
        t_before = time.monotonic()
        p_before = sampler.mean_group(t_before - STEADY_HOLD_S, t_before)
        backend_before = view.trace[-1][1] if view.trace else math.nan
        befores = [statistics.fmean([p for t, p in sampler.station(i) if t >= t_before - STEADY_HOLD_S])
                   for i in range(rig.n)]
        with httpx.Client(base_url=rig.backend.api_url, timeout=30,
                          headers={"Authorization": f"Bearer {rig.token}"}) as api:
            t0 = time.monotonic()
            ack = api.post("dispatch/orders", json=body).json()
            t_ack = time.monotonic() - t0
            if ack.get("stage") not in ("accepted", "partial"):
                raise RuntimeError(f"order not accepted: {ack}")
            p_target = target_kw * 1000
            deadline = t0 + sample_s + 30 + HOLD_S
            while time.monotonic() < deadline:
                time.sleep(1.0)
                now = time.monotonic()
                plant_t = settle_time(sampler.group(), t0, p_before, p_target, 0.9)
                back_t = settle_time(view.trace, t0, backend_before, p_target, 0.9)
                if plant_t is not None and back_t is not None and now - t0 - max(plant_t, back_t) >= HOLD_S:
                    break
            t_end = time.monotonic()
            with contextlib.suppress(Exception):
                api.post(f"dispatch/orders/{body['order_id']}/cancel")
    finally:
        sampler.close()
        view.close()
    group = [(t, p) for t, p in sampler.group() if t <= t_end]
    after = sampler.mean_group(t_end - 3.0, t_end)
    per_station = []
    for i, dut in enumerate(rig.duts):
        trace = [(t, p) for t, p in sampler.station(i) if t <= t_end]
        final = statistics.fmean([p for t, p in trace if t >= t_end - 3.0])
        profile_at = line_time(dut, r"PROFILE_SET id=4711", t0)
        moving_at = sampler.limit_changed(i, t0)
        own_t90 = settle_time(trace, t0, befores[i], final, 0.9) if abs(final - befores[i]) >= 100 else 0.0
        per_station.append({
            "station": dut.id, "discharge_capable": rig.capable[i], "soc_at_plug_in_pct": socs[i],
            "before_w": round(befores[i]), "after_w": round(final),
            "profile_s": None if profile_at is None else round(profile_at - t0, 3),
            "limit_moved_s": None if moving_at is None else round(moving_at - t0, 3),
            "t90_s": None if own_t90 is None else round(own_t90, 3),
            "power_changes": changes(trace, t0),
        })
    profiles = [s["profile_s"] for s in per_station]
    t90 = settle_time(group, t0, p_before, p_target, 0.9)
    t50 = settle_time(group, t0, p_before, p_target, 0.5)
    backend_t90 = settle_time(view.trace, t0, backend_before, p_target, 0.9)
    backend_t50 = settle_time(view.trace, t0, backend_before, p_target, 0.5)
    return {
        "stations": rig.n,
        "discharge_capable_stations": n_capable,
        "t90_s": t90,
        "t50_s": t50,
        "backend_t90_s": backend_t90,
        "backend_t50_s": backend_t50,
        "t_all_profiles_s": max(profiles) if profiles and None not in profiles else None,
        "profiles_accepted": sum(p is not None for p in profiles),
        "profile_p50_s": statistics.median([p for p in profiles if p is not None]) if any(
            p is not None for p in profiles) else None,
        "order_ack_s": t_ack,
        "order_stage": ack.get("stage"),
        "target_kw": target_kw,
        "committed_kw": (ack.get("committed_kw") or [None])[0],
        "group_before_kw": p_before / 1000,
        "group_after_kw": after / 1000,
        "backend_group_before_kw": backend_before / 1000,
        "backend_group_after_kw": (view.trace[-1][1] / 1000) if view.trace else None,
        "observed_s": t_end - t0,
        "dispatcher_step_s": dispatcher_step_s(),
        "meter_value_sample_interval_s": sample_s,
        "plant_sample_s": SAMPLE_S,
        "backend_stream_error": view.error or None,
        "group_power_changes": changes(group, t0, 500.0),
        "backend_group_power_changes": changes(view.trace, t0, 500.0),
        "per_station": per_station,
    }


def show(figures: dict[str, Any]) -> None:
    """Print the figures as `name: value unit` lines (per-station ones as a small table)."""
    for key, value in figures.items():
        if key == "per_station" or key.endswith("_changes"):
            continue
        unit = "s" if key.endswith("_s") else "kW" if key.endswith("_kw") else ""
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key}: {shown} {unit}".rstrip())
    print("per station: id, kind, before W -> after W, profile accepted s, limit moving s, t90 s")
    for s in figures["per_station"]:
        print(f"  {s['station']} {'V2G ' if s['discharge_capable'] else 'plain'} "
              f"{s['before_w']:>6} -> {s['after_w']:>6}  {s['profile_s']}  {s['limit_moved_s']}  "
              f"{s['t90_s']}")


def main() -> None:
    """Run with N stations (argv[1], default 20); print and write the figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if n < 2:
        raise SystemExit("N must be at least 2 (half the stations are discharge-capable)")
    directory = Path(tempfile.mkdtemp(prefix="fg-t90-"))
    rig = Rig(n, directory)
    ok = False
    started = time.monotonic()
    with sigterm_as_ctrl_c():
        try:
            rig.start()
            figures = measure(rig, random.Random(20261127))
            ok = True
        except KeyboardInterrupt:
            print("interrupted: stopping the stations, the plant and the backend", file=sys.stderr)
            raise SystemExit(130) from None
        except Exception:
            if rig.backend is not None:
                print(f"backend log (tail):\n{rig.backend.tail(30)}", file=sys.stderr)
            raise
        finally:
            rig.close()
            if ok and not os.environ.get("FROSTGRID_T90_KEEP"):
                shutil.rmtree(directory, ignore_errors=True)
            else:
                print(f"logs (stations/*/dut.log) kept in {directory}", file=sys.stderr)
    figures["run_s"] = time.monotonic() - started
    figures["cpus"] = os.cpu_count()
    figures["load_average_1min"] = os.getloadavg()[0]
    show(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "v2g_t90.json" if n == 20 else f"v2g_t90_{n}.json"
    (RESULTS / name).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
