"""Heap of a cold-region station (`python -m bench.cold_station_heap`).

A station with thermal control (the AC-7 reference station's three heated zones and an ambient
thermistor, `hil_tests.cold_rig.thermal_station_config`) and a Modbus meter (a DTSU666 on the
meter emulator) runs the `.mpy` firmware, as the HIL rig does, against a real backend (SQLite)
and the plant. One run: a cold boot (zones below the contactor's minimum: the interlock holds,
the heaters warm the zones), BootNotification, a card, a charging session of `--charge-s`
seconds with periodic MeterValues (energy, power, per-phase voltage and current every 2 s),
heater reports (MeterValues + DataTransfer Frostgrid/Heater every 5 s) and the journal, a stop
from the EV, the unplug, the StopTransaction acknowledged and billed from the meter register.
A run fails on a missing step, a firmware exit, a wrong bill, missing reports, or any
`MemoryError` in the firmware's log (the first one is recorded with the lines before it).

First one run at a generous heap with the firmware reporting its live heap (station.json
`heap_report_ms`, firmware/app_heap.py): the peak `gc.mem_alloc()` after `gc.collect()`. Then,
without heap reporting (as in the field), the smallest `-X heapsize`: 16 kB steps from the
peak rounded up (down while runs pass, up while they fail), then 4 kB steps between the last
failing and the first passing size. One run per size.

Prints `name: value unit` lines and writes `bench/results/cold_station_heap.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.build_mpy import build
from hil_tests.cold_rig import COLD_HEAP, query, thermal_station_config
from hil_tests.conftest import dut_factory, new_station_id
from hil_tests.dut import FIRMWARE_DIR, Dut, DutTimeout, parse_heap
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.scenario import CARD, E_REG, POWER, dut_config, readings
from hil_tests.thermal_plant import AC7

RESULTS = Path(__file__).resolve().parent / "results" / "cold_station_heap.json"
KB = 1024
COARSE = 16 * KB
FINE = 4 * KB
MEASURE_HEAP = 512 * KB  # the measuring run must not be squeezed
HEAP_REPORT_MS = 100
SAMPLE_S = 2
REPORT_S = 5  # heater reports (thermal report_s), as in the HIL scenarios
METER_MODEL = "DTSU666"
START_C, AMBIENT_C, TIME_SCALE = -25.0, -30.0, 60.0  # below the electronics' -20 °C + 2 K: held at boot
_HEAP = re.compile(r"\bHEAP (\d+)")
_HEAP_BASE = re.compile(r"\bHEAP_BASE (\d+)")


class Failed(AssertionError):
    """A run did not complete cleanly."""


@dataclass
class Run:
    """One run at one heap size."""

    heap: int
    report: bool
    ok: bool = False
    reason: str = ""
    # the first MemoryError line of the firmware's log, with the lines around it
    memory_error: list[str] = field(default_factory=list)
    seconds: float = 0.0
    base: int | None = None
    peak: int | None = None
    heap_samples: int = 0
    meter_values: int = 0  # periodic energy readings stored for the session
    heater_reports: int = 0  # Frostgrid.Ambient readings stored (one per heater report)


def _memory_error(dut: Dut, since: int) -> list[str] | None:
    lines = dut.lines[since:]
    for i, line in enumerate(lines):
        if "MemoryError" in line or "memory allocation failed" in line:
            return lines[max(0, i - 3): i + 3]
    return None


class Bench:
    """Backend, plant and firmware build shared by every run."""

    def __init__(self, work: Path, fw_dir: Path, charge_s: float, echo: bool) -> None:
        self.work = work
        self.fw_dir = fw_dir
        self.charge_s = charge_s
        self.echo = echo
        self.backend = BackendProc(sqlite_url(work / "bench.db"), cwd=work)
        self.backend.start()
        self.backend.add_token(CARD)
        self.plant = ThreadedPlant()

    def close(self) -> None:
        """Stop everything started."""
        self.plant.close()
        self.backend.stop()

    def _wait(self, dut: Dut, pattern: str, timeout: float, since: int) -> re.Match[str]:
        # dut.wait_for, failing at once on a MemoryError or an exit
        deadline = time.monotonic() + timeout
        while True:
            self._check(dut, since)
            try:
                return dut.wait_for(pattern, min(1.0, max(0.05, deadline - time.monotonic())), since=since)
            except DutTimeout as e:
                if time.monotonic() >= deadline or not dut.running:
                    raise Failed(f"no {pattern!r} within {timeout:.0f}s"
                                 + ("" if dut.running else f" (firmware exited {dut.exits})")) from e

    def _check(self, dut: Dut, since: int) -> None:
        if _memory_error(dut, since):
            raise Failed("MemoryError in the firmware log")
        if dut.exits or not dut.running:
            raise Failed(f"firmware exited {dut.exits}")

    def _hold(self, dut: Dut, seconds: float, since: int) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check(dut, since)
            time.sleep(0.25)

    def run(self, heap: int, report: bool = False) -> Run:
        """One cold boot + charging session at `heap` bytes; `report`: with heap reporting."""
        run = Run(heap=heap, report=report)
        make, _ = dut_factory(self.work, self.plant, self.fw_dir)
        cold = ColdPlant(AC7, temp_c=START_C, ambient_c=AMBIENT_C, time_scale=TIME_SCALE,
                         ambient_channel=len(AC7.zones))
        bus = MeterBus(METER_MODEL, address=1)
        extra: dict[str, Any] = {
            "thermal": thermal_station_config(AC7, report_s=REPORT_S, ambient_channel=cold.ambient_channel),
            "meter": {"model": METER_MODEL, "address": 1, "baud": 19200, "interval_ms": 500,
                      "timeout_ms": 100, "retries": 2, "dead_after": 3, "max_power_w": 30000},
        }
        if report:
            extra["heap_report_ms"] = HEAP_REPORT_MS
        config = dut_config(SAMPLE_S, MeterValuesSampledData=f"{E_REG},{POWER},Voltage,Current.Import")
        sid = new_station_id("COLD")
        dut = make(self.backend, station_id=sid, config=config, heap=heap, **extra)
        dut.auto_restart = False  # a reset is a failed run here
        dut.echo = self.echo
        st = self.plant.station(sid)
        st.attach_cold(cold)
        st.attach_meter(bus)
        t0 = time.monotonic()
        try:
            dut.start()
            self._wait(dut, r"BOOT_ACCEPTED", 60, 0)
            wait_until(lambda: self.backend.connected(sid), 30, what="connected")
            st.plug_in(Ev(max_power_w=7000.0))
            st.present_tag(CARD)
            ltx = self._wait(dut, r"TX_START ltx=(\d+)", 180, 0).group(1)  # after the warm-up
            txid = int(self._wait(dut, rf"TX_BOUND ltx={ltx} txid=(\d+)", 30, 0).group(1))
            self._hold(dut, self.charge_s, 0)
            if not st.contactor:
                raise Failed("contactor open during the session")
            st.stop_request()  # the EV is done...
            wait_until(lambda: not st.contactor, 10, what="contactor open")
            self._hold(dut, 1.5, 0)  # a fresh meter reading after the current stopped
            st.unplug()  # ...and the driver unplugs
            self._wait(dut, rf"TX_STOP ltx={ltx} ", 30, 0)
            self._wait(dut, rf"TX_ACKED ltx={ltx}", 60, 0)
            tx = wait_until(lambda: (t := self.backend.transaction(txid))["meter_stop_wh"] is not None and t,
                            30, what="transaction stored")
            closed, opened = st.contactor_closed_intervals()[-1]
            billed = (tx["meter_start_wh"], tx["meter_stop_wh"])
            if billed != (closed, opened) or not opened or opened <= closed:
                raise Failed(f"billed {billed[0]}..{billed[1]}, meter register {closed}..{opened}")
            run.meter_values = len(readings(tx))
            self._hold(dut, REPORT_S + 1.0, 0)  # one more heater report after the stop
            run.heater_reports = query(self.backend, "SELECT COUNT(*) FROM meter_values WHERE station_id = ? "
                                       "AND measurand = 'Frostgrid.Ambient'", sid)[0][0]
            if run.meter_values < self.charge_s / SAMPLE_S / 2:
                raise Failed(f"only {run.meter_values} periodic readings stored")
            if run.heater_reports < self.charge_s / REPORT_S / 2:
                raise Failed(f"only {run.heater_reports} heater reports stored")
            self._check(dut, 0)
            run.ok = True
        except (Failed, DutTimeout, AssertionError) as e:
            run.reason = str(e).splitlines()[0][:200]
        finally:
            run.seconds = round(time.monotonic() - t0, 1)
            dut.stop()
            if st.plugged:
                st.unplug()
        run.memory_error = _memory_error(dut, 0) or []
        if run.memory_error and not run.reason.startswith("MemoryError"):
            run.reason = f"MemoryError in the firmware log ({run.reason or 'after the checks'})"
            run.ok = False
        samples = [int(m.group(1)) for m in dut.grep(_HEAP.pattern)]
        base = [int(m.group(1)) for m in dut.grep(_HEAP_BASE.pattern)]
        run.base = base[0] if base else None
        run.peak = max(samples) if samples else None
        run.heap_samples = len(samples)
        return run


def _line(name: str, value: Any, unit: str) -> None:
    print(f"{name}: {value} {unit}".rstrip(), flush=True)


def _note(run: Run) -> str:
    s = f"{run.heap // KB} kB: {'ok' if run.ok else 'FAIL ' + run.reason} ({run.seconds:.0f} s"
    if run.ok:
        s += f", {run.meter_values} periodic readings, {run.heater_reports} heater reports"
    s += ")"
    if run.memory_error:
        s += " | " + " / ".join(run.memory_error)
    return s


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if no heap size passed or the measuring run failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--charge-s", type=float, default=120.0, help="seconds of charging per run")
    ap.add_argument("--start", default=None,
                    help="first heapsize of the 16 kB search (e.g. 192k; default: the peak, rounded up)")
    ap.add_argument("--no-measure", action="store_true", help="skip the heap-reporting run")
    ap.add_argument("--echo", action="store_true", help="show the firmware's log")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {}
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="fg-cold-heap-") as tmp:
        work = Path(tmp)
        fw = build(FIRMWARE_DIR, work / "firmware_mpy")
        bench = Bench(work, fw, args.charge_s, args.echo)
        try:
            measured: Run | None = None
            if not args.no_measure:
                measured = bench.run(MEASURE_HEAP, report=True)
                print(f"# measuring run at {MEASURE_HEAP // KB} kB with heap reports: {_note(measured)}",
                      flush=True)
                results["peak_mem_alloc_bytes"] = measured.peak
                results["heap_base_bytes"] = measured.base
                results["measuring_run"] = asdict(measured)
            if args.start:
                start = parse_heap(args.start)
            elif measured is not None and measured.peak:
                start = -(-measured.peak // COARSE) * COARSE
            else:
                start = parse_heap(COLD_HEAP)
            tried: dict[int, Run] = {}

            def attempt(heap: int) -> bool:
                if heap not in tried:
                    tried[heap] = bench.run(heap)
                    runs.append(tried[heap])
                    print(f"# {_note(tried[heap])}", flush=True)
                return tried[heap].ok

            # 16 kB steps: down while it passes, up while it fails
            heap = start
            if attempt(heap):
                while heap - COARSE > 0 and attempt(heap - COARSE):
                    heap -= COARSE
                good, bad = heap, heap - COARSE
            else:
                while heap < MEASURE_HEAP and not attempt(heap + COARSE):
                    heap += COARSE
                good, bad = heap + COARSE, heap
            if good > MEASURE_HEAP or not tried.get(good, Run(0, False)).ok:
                least = None
            else:
                # 4 kB steps between the last failing and the first passing size (bisection)
                while good - bad > FINE:
                    mid = bad + ((good - bad) // FINE // 2) * FINE
                    if attempt(mid):
                        good = mid
                    else:
                        bad = mid
                least = good
            results["min_heap_bytes"] = least
            results["largest_failing_heap_bytes"] = bad if least is not None else None
        finally:
            bench.close()

    below = next((r for r in runs if r.heap == results.get("largest_failing_heap_bytes")), None)
    _line("cold_station_min_heap_bytes", results.get("min_heap_bytes"), "bytes")
    _line("cold_station_largest_failing_heap_bytes", results.get("largest_failing_heap_bytes"), "bytes")
    _line("cold_station_peak_mem_alloc_bytes", results.get("peak_mem_alloc_bytes"), "bytes")
    _line("cold_station_heap_base_bytes", results.get("heap_base_bytes"), "bytes")
    if below is not None:
        print(f"# just below the minimum: {_note(below)}")
    results["cold_station_min_heap_bytes"] = results.pop("min_heap_bytes")
    results["cold_station_peak_mem_alloc_bytes"] = results.pop("peak_mem_alloc_bytes", None)
    results["runs"] = [asdict(r) for r in runs]
    results["notes"] = [_note(r) for r in runs]
    results["setup"] = {
        "firmware": ".mpy (hil_tests.build_mpy)", "station": "AC-7: 3 heated zones + ambient thermistor",
        "meter": f"{METER_MODEL} at address 1 (meter emulator), polled every 500 ms",
        "zones_start_c": START_C, "ambient_c": AMBIENT_C, "thermal_time_scale": TIME_SCALE,
        "charge_s": args.charge_s, "MeterValueSampleInterval_s": SAMPLE_S,
        "MeterValuesSampledData": f"{E_REG},{POWER},Voltage,Current.Import", "heater_report_s": REPORT_S,
        "heap_report_ms": HEAP_REPORT_MS, "measuring_heap_bytes": MEASURE_HEAP,
        "search": "16 kB steps from the measured peak rounded up, then 4 kB; one run per size, "
                  "no heap reporting; any MemoryError fails a run",
    }
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                          "processor": platform.processor() or platform.machine()}
    results["command"] = ".venv/bin/python -m bench.cold_station_heap"
    results["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"# written {RESULTS}")
    ok = results["cold_station_min_heap_bytes"] is not None
    if "measuring_run" in results:
        ok = ok and results["measuring_run"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
