"""Power cuts (kill -9) at hypothesis-chosen moments of a charging session, including mid-flash-write.

Each example runs one session on the same station — plug in, show the card, charge, unplug — and
cuts the firmware's power once: either a delay after a session event, or inside the N-th journal
write after K bytes (station.json `test_crash`: the firmware writes K bytes of the record, prints
CRASHPOINT and hangs; the test then SIGKILLs it). The firmware is restarted and the session
finished. Then: nothing the journal held is lost, nothing is stored twice, every transaction is
closed, the backend's energy equals the plant's, and the journal reads back cleanly.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from hil_tests.backend_proc import BackendProc, wait_until
from hil_tests.conftest import DUT_HEAP, new_station_id, watched
from hil_tests.dut import Dut, station_json
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import (
    CARD,
    JournalDump,
    assert_readings_consistent,
    calls,
    dut_config,
    last_tx_id,
    read_journal,
    readings,
    record_ltx,
    record_payload,
    settle,
    station_txs,
    ts,
)

SAMPLE_S = 1
EVENTS = ("boot", "plug", "tag", "TX_START", "TX_BOUND", "sample", "unplug", "TX_STOP", "TX_ACKED")
STEP_TIMEOUT = 20


@dataclass
class Plan:
    """One power cut: `after` an event plus a delay, or a `crash` inside a journal write; and the
    state of the backend link meanwhile ('ok', 'slow': 250 ms each way, 'down' from the moment the
    Start is answered until after the cut)."""

    how: str  # 'after' | 'crash'
    event: str = ""
    delay_ms: int = 0
    crash: dict[str, Any] | None = None
    link: str = "ok"


# the journal writes of one session: S, B, ack S, (M, ack M)..., T, ack B, ack T
_CRASH_AT = st.one_of(
    st.fixed_dictionaries({"journal_write": st.integers(1, 7), "bytes": st.integers(0, 400)}),
    st.fixed_dictionaries({"journal_write": st.just(1), "bytes": st.integers(0, 400),
                           "kinds": st.sampled_from(["S", "T", "B", "M"])}),
    st.fixed_dictionaries({"journal_write": st.integers(1, 3), "bytes": st.integers(0, 20),
                           "kinds": st.just("-")}),
)
_LINKS = st.sampled_from(["ok", "ok", "slow", "down"])
plans = st.one_of(
    st.builds(Plan, how=st.just("after"), event=st.sampled_from(EVENTS), delay_ms=st.integers(0, 1200),
              link=_LINKS),
    st.builds(Plan, how=st.just("crash"), crash=_CRASH_AT, link=_LINKS),
)


@dataclass
class Rig:
    """One backend (the session's), one plant, one station behind a tapping proxy, reused by examples."""

    backend: BackendProc
    plant: ThreadedPlant
    wire: ThreadedProxy
    dut: Dut
    log: list[str] = field(default_factory=list)
    armed: dict[str, Any] | None = None  # the test_crash the running firmware process started with


@pytest.fixture(scope="module")
def rig(backend: BackendProc, firmware_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    plant = ThreadedPlant()
    wire = ThreadedProxy("127.0.0.1", backend.port, tap=True)
    sid, pw = new_station_id("K9"), secrets.token_hex(8)
    backend.add_station(sid, pw)
    tmp: Path = tmp_path_factory.mktemp("kill9")
    dut = Dut(tmp / sid, station_json(sid, wire.url("/ocpp"), pw, plant.address, journal_bytes=8192),
              config=dut_config(SAMPLE_S), fw_dir=firmware_dir, heap=DUT_HEAP)
    r = Rig(backend, plant, wire, dut)
    watched.append(dut)
    yield r
    watched.remove(dut)
    if os.environ.get("FROSTGRID_KILL9_LOG"):
        Path(os.environ["FROSTGRID_KILL9_LOG"]).write_text("\n".join(r.log) + "\n")
    dut.stop()
    wire.close()
    plant.close()


class _Cut(Exception):
    """The firmware's power was cut at this step."""


def _journal(dut: Dut) -> JournalDump:
    return read_journal(dut.data_dir, dut.station["journal_bytes"], dut.fw_dir)


def _run_session(rig: Rig, plan: Plan, mark: int, fresh: bool) -> bool:
    """Drive the session (from boot if `fresh`); cut power as the plan says. True if it was cut."""
    dut, st = rig.dut, rig.plant.station(rig.dut.id)
    crash_rx = r"^CRASHPOINT"

    def reached(event: str) -> None:
        if plan.how == "after" and plan.event == event:
            settle(plan.delay_ms / 1000)
            dut.kill9()
            raise _Cut(event)

    def wait(pattern: str) -> re.Match[str]:
        m = dut.wait_for(rf"{pattern}|{crash_rx}", STEP_TIMEOUT, since=mark)
        if m.group(0).startswith("CRASHPOINT"):
            dut.kill9()
            raise _Cut("crashpoint")
        return m

    def crashed() -> None:
        if dut.grep(crash_rx, since=mark):
            dut.kill9()
            raise _Cut("crashpoint")

    try:
        if fresh:
            wait("BOOT_ACCEPTED")
            reached("boot")
        st.plug_in(Ev(max_power_w=22_000.0))
        reached("plug")
        st.present_tag(CARD)
        reached("tag")
        ltx = wait(r"TX_START ltx=(\d+)").group(1)
        reached("TX_START")
        wait(rf"TX_BOUND ltx={ltx} ")
        if plan.link == "down":
            rig.wire.cut()
        reached("TX_BOUND")
        settle((2 if plan.link == "down" else 1) * SAMPLE_S + 0.2)
        crashed()
        reached("sample")
        st.unplug()
        reached("unplug")
        wait(rf"TX_STOP ltx={ltx} ")
        reached("TX_STOP")
        if plan.link == "down":
            rig.wire.restore()
        wait(rf"TX_ACKED ltx={ltx}")
        reached("TX_ACKED")
        settle(0.3)  # a crash point in the writes after the last step
        crashed()
    except _Cut:
        return True
    return False


def _settle_after_restart(rig: Rig, mark: int) -> None:
    """Boot again, let the firmware read a card still waiting at the reader, then end the visit."""
    dut, st = rig.dut, rig.plant.station(rig.dut.id)
    dut.wait_for("BOOT_ACCEPTED", STEP_TIMEOUT, since=mark)
    wait_until(lambda: st.pending_tags == 0, 10, what="card read")
    settle(0.6)
    if st.plugged:
        st.unplug()


def _drained(rig: Rig) -> bool:
    if rig.backend.transactions(rig.dut.id, active=True):
        return False
    return not _journal(rig.dut).of_kinds("STMB")


def _boots(dut: Dut, since: int) -> list[list[str]]:
    """The log from `since` split per process start (the first part: the process running then)."""
    out: list[list[str]] = [[]]
    for line in dut.lines[since:]:
        if line.startswith("#HIL start"):
            if out[-1] or len(out) > 1:
                out.append([])
        else:
            out[-1].append(line)
    return out


@pytest.mark.slow
@settings(max_examples=50, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(Plan("crash", crash={"journal_write": 1, "bytes": 7, "kinds": "S"}))  # torn Start
@example(Plan("crash", crash={"journal_write": 1, "bytes": 10_000, "kinds": "S"}))  # whole Start, not logged
@example(Plan("crash", crash={"journal_write": 1, "bytes": 20, "kinds": "T"}))  # torn Stop
@example(Plan("crash", crash={"journal_write": 1, "bytes": 3, "kinds": "B"}))  # torn bind
@example(Plan("after", event="TX_STOP", delay_ms=0))  # Stop journaled, not sent
@example(Plan("after", event="TX_STOP", delay_ms=0, link="down"))  # readings and Stop owed
@example(Plan("crash", crash={"journal_write": 2, "bytes": 30, "kinds": "M"}, link="down"))  # torn reading
@given(plan=plans)
def test_power_cut_at_any_moment_loses_and_duplicates_nothing(rig: Rig, plan: Plan) -> None:
    dut, backend, st = rig.dut, rig.backend, rig.plant.station(rig.dut.id)
    rig.log.append(repr(plan))
    t_start = time.monotonic()
    base_tx = last_tx_id(backend, dut.id)
    e_base = st.energy_wh
    wire_base = len(rig.wire.messages)
    mark = dut.mark()

    rig.wire.restore()
    if plan.link == "slow":
        rig.wire.delay(250)
    want = plan.crash if plan.how == "crash" else None
    fresh = want is not None or rig.armed is not None or not dut.running or plan.event == "boot"
    if fresh:  # otherwise the firmware is up and idle from the previous example
        dut.write_station(test_crash=want)
        dut.restart()
        rig.armed = want

    cut = _run_session(rig, plan, mark, fresh)
    t_session = time.monotonic()
    owed = JournalDump()
    if cut:  # the plant notices the dead controller a moment later: then the contactor is open
        wait_until(lambda: not st.link_up and not st.contactor, 5, what="plant saw the controller die")
    e_cut = st.energy_wh
    killed_boot = len(_boots(dut, mark)) - 1
    if cut:
        assert not dut.running
        owed = _journal(dut)  # what survived the cut: the firmware owes all of it to the backend
        if plan.link == "down":
            rig.wire.restore()
        restart_mark = dut.mark()
        dut.write_station(test_crash=None)
        dut.start()
        rig.armed = None
        _settle_after_restart(rig, restart_mark)
        # the firmware read its journal back at boot (and says what it dropped, if it says so)
        boot = dut.wait_for(r"JOURNAL n=(\d+)(?: dropped=(\d+))?", 5, since=restart_mark)
        if boot.group(2) is not None:
            assert int(boot.group(2)) == owed.dropped, (
                f"{plan}: firmware dropped {boot.group(2)} bytes, the torn tail was {owed.dropped}")
    t_restart = time.monotonic()
    try:
        wait_until(lambda: _drained(rig), 30, what="journal drained and no transaction open")
    except AssertionError as e:
        raise AssertionError(f"{plan}: {e}\nactive: {backend.transactions(dut.id, active=True)}\n"
                             f"journal: {_journal(dut).records}\nlog:\n{dut.tail(50)}") from None

    t_drained = time.monotonic()
    # the journal reads back cleanly
    final = _journal(dut)
    assert final.dropped == 0, f"journal has a corrupt tail of {final.dropped} bytes after recovery"
    assert not final.of_kinds("STMB")

    txs = station_txs(backend, dut.id, base_tx)
    boots = _boots(dut, mark)
    # each transaction the firmware started (or journaled without living to log it) is stored once
    started: set[tuple[int, int]] = set()
    for b, lines in enumerate(boots):
        for line in lines:
            if m := re.search(r"TX_START ltx=(\d+)", line):
                started.add((b, int(m.group(1))))
    logged = {ltx for b, ltx in started if b == killed_boot}
    unlogged = {record_ltx(d) for _, k, d in owed.of_kinds("S")} - logged
    assert len(txs) == len(started) + len(unlogged), (
        f"{plan}: backend has {len(txs)} transactions, firmware started {sorted(started)} "
        f"+ unlogged {sorted(unlogged)}\n{dut.tail(60)}")

    for tx in txs:
        assert tx["meter_stop_wh"] is not None, f"{plan}: transaction {tx['id']} never closed"
        assert_readings_consistent(tx)
        if tx["stop_reason"] == "PowerLoss":
            assert tx["meter_stop_wh"] == e_cut, f"{plan}: PowerLoss stop must carry the meter at the cut"

    # the backend's energy is the plant's
    assert sum(t["meter_stop_wh"] - t["meter_start_wh"] for t in txs) == st.energy_wh - e_base, (
        f"{plan}: backend energy {[(t['meter_start_wh'], t['meter_stop_wh']) for t in txs]} vs plant "
        f"{e_base}..{st.energy_wh}")

    # nothing the journal held after the cut was lost
    for _, kind, data in owed.of_kinds("STM"):
        p = record_payload(kind, data)
        if kind == "S":
            assert any(t["meter_start_wh"] == p["meterStart"] and ts(t["start_time"]) == ts(p["timestamp"])
                       for t in txs), f"{plan}: journaled Start {p} not in the backend"
        elif kind == "T":
            assert any(t["meter_stop_wh"] == p["meterStop"] and t["stop_reason"] == p["reason"]
                       for t in txs), f"{plan}: journaled Stop {p} not in the backend"
        else:
            mv = p["meterValue"][0]
            reg = [float(s["value"]) for s in mv["sampledValue"]
                   if s.get("measurand") in (None, "Energy.Active.Import.Register")][0]
            assert any((ts(mv["timestamp"]), reg) in readings(t) for t in txs), (
                f"{plan}: journaled reading {mv} not in the backend")

    # and nothing was stored twice: one stored reading per distinct reading on the wire
    sent = {(f[3]["transactionId"], f[3]["meterValue"][0]["timestamp"])
            for _, f in calls(rig.wire.messages[wire_base:], "MeterValues")}
    stored = sum(len(readings(t)) for t in txs)
    assert stored == len(sent), f"{plan}: {stored} readings stored, {len(sent)} distinct sent"
    assert st.violations == []
    rig.log[-1] += (f" {time.monotonic() - t_start:.1f}s (session {t_session - t_start:.1f}, restart "
                    f"{t_restart - t_session:.1f}, drain {t_drained - t_restart:.1f}) cut={cut} "
                    f"owed={''.join(k for _, k, _ in owed.records)} torn={owed.dropped} txs="
                    f"{[(t['stop_reason'], t['energy_wh']) for t in txs]}")
