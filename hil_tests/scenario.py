"""Steps and checks the end-to-end scenarios share: drive a session, read the journal, compare truths.

The plant is the truth about energy; the firmware's journal (read back with the firmware's own
`journal.py` inside MicroPython) is the truth about what the device owes the backend; the tap on
the link proxy is the truth about what went over the wire; the REST API shows what the backend
stored.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.dut import FIRMWARE_DIR, Dut, micropython_binary
from hil_tests.plant import Ev, StationPlant
from hil_tests.proxy import TapMessage

CARD = "CARD1"
E_REG = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def dut_config(sample_s: int = 2, **over: Any) -> dict[str, Any]:
    """A partial config.json for tests: fast samples, quick retries, energy and power sampled."""
    cfg: dict[str, Any] = {
        "MeterValueSampleInterval": sample_s,
        "HeartbeatInterval": 30,
        "TransactionMessageRetryInterval": 1,
        "MeterValuesSampledData": f"{E_REG},{POWER}",
    }
    cfg.update(over)
    return cfg


# --- the journal, read by the firmware's own code ---------------------------------------------------
_READER = """
import json
from journal import Journal
j = Journal('journal.bin', %d)
n = j.open()
out = {'count': n, 'dropped': j.dropped, 'records': [[s, k, d] for s, k, d in j.records()]}
print('JOURNAL_DUMP ' + json.dumps(out))
"""


@dataclass
class JournalDump:
    """What `Journal.open()` recovers from a copy of the journal files."""

    count: int = 0
    dropped: int = 0  # bytes of torn or corrupt tail dropped by open()
    records: list[tuple[int, str, str]] = field(default_factory=list)

    def of_kinds(self, kinds: str) -> list[tuple[int, str, str]]:
        """Records whose kind is one of `kinds`."""
        return [r for r in self.records if r[1] in kinds]


def read_journal(data_dir: Path, capacity_bytes: int, fw_dir: Path = FIRMWARE_DIR) -> JournalDump:
    """Open a copy of the device's journal with the firmware's `Journal` (in MicroPython)."""
    with tempfile.TemporaryDirectory(prefix="fg-journal-") as tmp:
        for name in ("journal.bin", "journal.tmp"):
            if (data_dir / name).exists():
                shutil.copy2(data_dir / name, Path(tmp) / name)
        env = {"MICROPYPATH": f"{fw_dir}:.frozen", "PATH": "/usr/bin:/bin"}
        proc = subprocess.run([micropython_binary(), "-X", "heapsize=1m", "-c", _READER % capacity_bytes],
                              cwd=tmp, env=env, capture_output=True, text=True, timeout=30)
    for line in proc.stdout.splitlines():
        if line.startswith("JOURNAL_DUMP "):
            d = json.loads(line[len("JOURNAL_DUMP "):])
            return JournalDump(d["count"], d["dropped"], [tuple(r) for r in d["records"]])  # type: ignore[misc]
    raise AssertionError(f"the journal could not be read back (rc={proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def record_ltx(data: str) -> int:
    """The local transaction id a journal record refers to."""
    return int(data.split(" ", 1)[0])


def record_payload(kind: str, data: str) -> dict[str, Any]:
    """The OCPP payload (without transactionId) a S/T/M record carries."""
    rest = data.split(" ", 1)[1].strip()
    return json.loads(rest if rest.startswith("{") else "{" + rest + "}")


# --- backend view -------------------------------------------------------------------------------------
def ts(value: str) -> datetime:
    """An ISO 8601 timestamp (OCPP or backend) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def readings(tx: dict[str, Any], measurand: str = E_REG, context: str | None = "Sample.Periodic"
             ) -> list[tuple[datetime, float]]:
    """(timestamp, value) of a transaction's stored meter values of one measurand/context, by time."""
    out = [(ts(v["timestamp"]), float(v["value"])) for v in tx.get("meter_values") or []
           if v["measurand"] == measurand and (context is None or v["context"] == context)]
    return sorted(out)


def assert_readings_consistent(tx: dict[str, Any]) -> None:
    """Stored readings of a finished transaction: unique, register rising with time, within start..stop."""
    keys = [(v["timestamp"], v["measurand"], v["context"], v.get("phase"), v.get("location"))
            for v in tx["meter_values"]]
    dups = {k for k in keys if keys.count(k) > 1}
    assert not dups, f"tx {tx['id']}: readings stored twice: {sorted(dups)}"
    reg = readings(tx)
    values = [v for _, v in reg]
    assert values == sorted(values), f"tx {tx['id']}: energy register goes backwards: {reg}"
    lo, hi = tx["meter_start_wh"], tx["meter_stop_wh"]
    assert all(lo <= v <= hi for v in values), f"tx {tx['id']}: readings outside {lo}..{hi}: {values}"


def station_txs(backend: BackendProc, station_id: str, after_id: int = 0) -> list[dict[str, Any]]:
    """The station's transactions with id > after_id, full detail, oldest first."""
    ids = sorted(t["id"] for t in backend.transactions(station_id) if t["id"] > after_id)
    return [backend.transaction(i) for i in ids]


def last_tx_id(backend: BackendProc, station_id: str) -> int:
    """Highest transaction id the station has so far (0 if none)."""
    return max((t["id"] for t in backend.transactions(station_id)), default=0)


# --- the wire -----------------------------------------------------------------------------------------
def calls(messages: Iterable[TapMessage], action: str | None = None) -> list[tuple[TapMessage, list[Any]]]:
    """Device → backend CALLs seen by a tap, optionally of one action, in wire order."""
    out = []
    for m in messages:
        if m.direction != "up":
            continue
        try:
            frame = json.loads(m.text)
        except ValueError:
            continue
        if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2):
            continue
        if action is None or frame[2] == action:
            out.append((m, frame))
    return out


def call_results(messages: Iterable[TapMessage]) -> dict[str, Any]:
    """uid -> payload of every backend → device CALLRESULT seen by a tap."""
    out = {}
    for m in messages:
        if m.direction == "down":
            with_frame = _frame(m.text)
            if with_frame and with_frame[0] == 3:
                out[with_frame[1]] = with_frame[2]
    return out


def _frame(text: str) -> list[Any] | None:
    try:
        f = json.loads(text)
    except ValueError:
        return None
    return f if isinstance(f, list) and len(f) >= 3 else None


# --- session steps ------------------------------------------------------------------------------------
def wait_online(dut: Dut, backend: BackendProc, timeout: float = 30, since: int | None = None) -> None:
    """The firmware's BootNotification was accepted and the backend sees it connected."""
    dut.wait_for(r"BOOT_ACCEPTED", timeout, since=since)
    wait_until(lambda: backend.connected(dut.id), timeout, what=f"{dut.id} connected")


def plug_and_authorize(st: StationPlant, dut: Dut, tag: str = CARD, ev: Ev | None = None,
                       timeout: float = 20) -> int:
    """Plug an EV in and show the card; wait until charging; return the firmware's local tx id."""
    mark = dut.mark()
    st.plug_in(ev or Ev(max_power_w=11_000.0))
    st.present_tag(tag)
    m = dut.wait_for(r"TX_START ltx=(\d+)", timeout, since=mark)
    wait_until(lambda: st.contactor, timeout, what=f"{st.id} contactor closed")
    return int(m.group(1))


def wait_bound(dut: Dut, ltx: int, timeout: float = 20, since: int = 0) -> int:
    """The backend's transactionId once the StartTransaction was answered."""
    m = dut.wait_for(rf"TX_BOUND ltx={ltx} txid=(\d+)", timeout, since=since)
    return int(m.group(1))


def unplug_and_finish(st: StationPlant, dut: Dut, ltx: int, timeout: float = 20, acked: bool = True) -> int:
    """Unplug; wait until the firmware stopped the transaction (and the backend acknowledged it)."""
    mark = dut.mark()
    st.unplug()
    m = dut.wait_for(rf"TX_STOP ltx={ltx} reason=(\w+) meter=(\d+)", timeout, since=mark)
    if acked:
        dut.wait_for(rf"TX_ACKED ltx={ltx}", timeout, since=mark)
    return int(m.group(2))


def finished_tx(backend: BackendProc, txid: int, min_readings: int = 0,
                timeout: float = 20) -> dict[str, Any]:
    """The transaction once the backend stored its stop (and at least `min_readings` register values)."""
    def done() -> dict[str, Any] | None:
        tx = backend.transaction(txid)
        if tx.get("meter_stop_wh") is None or len(readings(tx)) < min_readings:
            return None
        return tx
    return wait_until(done, timeout, what=f"transaction {txid} stopped with {min_readings} readings")


def sample_gaps_s(tx: dict[str, Any]) -> list[float]:
    """Seconds between consecutive periodic energy readings of a transaction."""
    r = readings(tx)
    return [(b[0] - a[0]).total_seconds() for a, b in zip(r, r[1:], strict=False)]


_LOG_LINE = re.compile(r"^(-?\d+) (\w+) (.*)$")


def firmware_events(dut: Dut, since: int = 0) -> list[str]:
    """The text of the firmware's log lines (without ticks and level) from `since` on."""
    out = []
    for line in dut.lines[since:]:
        m = _LOG_LINE.match(line)
        out.append(m.group(3) if m else line)
    return out


def settle(seconds: float) -> None:
    """Let real time pass (the plant and the firmware run on wall-clock time)."""
    time.sleep(seconds)
