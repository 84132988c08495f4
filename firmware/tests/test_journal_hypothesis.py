"""Hypothesis drives the flash journal inside MicroPython and checks it against a CPython model.

Random sequences of append / remove / compact / reboot, with power cuts at random byte offsets of
the record being written (and of removal acks, and between compaction's tmp file and its rename),
are executed by `mp/cases_journal.py` in the real interpreter; after every step the live records
and `room()` must equal the model's. A second test kills a MicroPython process with SIGKILL at
hypothesis-chosen journal writes through the station.json crash hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MP_TESTS_DIR, TEST_HEAP, MicroPythonWorker, micropython_binary, mp_env

OVERHEAD = 14  # record header + CRC (journal.py); the file header record is one empty record
ACK = OVERHEAD

_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=60)
_kind = st.sampled_from("STMBE")
_append = st.tuples(st.just("a"), _kind, _text, st.booleans()).map(list)
_remove = st.tuples(st.just("r"), st.integers(-1, 50)).map(list)
_torn_append = st.tuples(st.just("ta"), _kind, _text, st.booleans(), st.integers(0, 10**6)).map(list)
_torn_remove = st.tuples(st.just("tr"), st.integers(0, 50), st.integers(0, 10**6)).map(list)
# appends dominate (about half the steps) so that journals fill up, evict readings and refuse records
_OPS = (
    (50, _append), (62, _remove), (66, st.just(["c"])), (72, st.just(["o"])), (82, _torn_append),
    (90, _torn_remove), (95, st.tuples(st.just("g"), st.integers(1, 64)).map(list)), (100, st.just(["rf"])),
)


def _choose(p: int) -> st.SearchStrategy:
    return next(s for bound, s in _OPS if p < bound)


_op = st.integers(0, 99).flatmap(_choose)


def _size(data: str) -> int:
    return OVERHEAD + len(data.encode())


class Model:
    """What the journal must hold: records whose append returned, minus removals and evictions."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.live: list[list] = []  # [seq, kind, data, droppable], oldest first
        self.max_seq = 0

    def room(self) -> int:
        return self.cap - OVERHEAD - sum(_size(r[2]) for r in self.live if not r[3])

    def make_room(self, data: str) -> bool:
        """Evict as the journal must before appending `data`; False when it must refuse."""
        over = OVERHEAD + sum(_size(r[2]) for r in self.live) + _size(data) - self.cap
        if over <= 0:
            return True
        evict = []
        for r in self.live:
            if r[3]:
                evict.append(r[0])
                over -= _size(r[2])
                if over <= 0:
                    break
        if over > 0:
            return False
        self.live = [r for r in self.live if r[0] not in evict]
        return True

    def add(self, seq: int, kind: str, data: str, drop: bool) -> None:
        assert seq > self.max_seq, f"seq {seq} not above {self.max_seq}"
        self.max_seq = seq
        self.live.append([seq, kind, data, drop])

    def has(self, seq: int) -> bool:
        return any(r[0] == seq for r in self.live)

    def drop(self, seq: int) -> None:
        self.live = [r for r in self.live if r[0] != seq]

    def digest(self) -> int:
        crc = 0
        for seq, kind, data, _drop in self.live:
            crc = zlib.crc32(f"{seq} {kind} ".encode() + data.encode() + b"\n", crc)
        return crc

    def check(self, step: list, count: int, room: int, digest: int) -> None:
        want = [r[0] for r in self.live]
        assert count == len(want), f"after {step}: journal holds {count} records, model {want}"
        assert digest == self.digest(), f"after {step}: seqs, kinds or data differ from model {want}"
        assert room == self.room(), f"after {step}: room {room} != {self.room()}"


def replay(cap: int, ops: list[list], results: list) -> Model:
    """Check each step's observed state against the model; return the final model."""
    m = Model(cap)
    for op, (res, count, room, digest) in zip(ops, results, strict=True):
        code = op[0]
        if code in ("a", "ta"):
            kind, data, drop = op[1], op[2], op[3]
            if not m.make_room(data):
                assert res == "FULL", f"{op}: refused nothing, got {res}"
            elif code == "a":
                assert isinstance(res, int), f"{op}: {res}"
                m.add(res, kind, data, drop)
            else:
                assert res[0] == "TORN", f"{op}: {res}"
                if op[4] % (_size(data) + 1) == _size(data):  # the cut came after the last byte
                    m.add(res[1], kind, data, drop)  # the digest checks it is this record
        elif code in ("r", "tr"):
            seq, outcome = res
            if not m.has(seq):
                assert outcome is False, f"{op}: removed a record that was not live"
            elif outcome == "TORN":
                if op[2] % (ACK + 1) == ACK:
                    m.drop(seq)  # the whole ack reached flash
            else:
                assert outcome is True, f"{op}: {res}"
                m.drop(seq)
        elif code == "o":
            assert res == 0, f"clean reboot dropped {res} bytes"
        elif code == "g":
            assert res == op[1], f"erased tail of {op[1]} bytes, dropped {res}"
        elif code == "rf":
            assert res is True, "compaction cut before rename left no tmp file"
        m.check(op, count, room, digest)
    return m


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicroPythonWorker]:
    w = MicroPythonWorker(cwd=tmp_path_factory.mktemp("journal_hyp"))
    yield w
    w.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cap=st.integers(100, 900), ops=st.lists(_op, min_size=10, max_size=80))
def test_journal_matches_model_through_random_power_cuts(worker: MicroPythonWorker, cap: int,
                                                        ops: list[list]) -> None:
    """No acked record is lost, no removed one comes back (but a torn ack), the file reads back clean."""
    results = worker.call("cases_journal", "run", cap, ops)
    m = replay(cap, ops, results)
    dropped1, dropped2, same, records, tmp_left, next_seq = worker.call("cases_journal", "reread", cap)
    assert (dropped1, dropped2, same, tmp_left) == (0, 0, True, False)
    assert records == [[r[0], r[1], r[2]] for r in m.live]
    assert next_seq > m.max_seq


def _run(path: Path, n: int, k: int, first: int, count: int) -> subprocess.Popen:
    cmd = [micropython_binary(), "-X", f"heapsize={TEST_HEAP}", str(MP_TESTS_DIR / "journal_crash_run.py"),
           str(path), "16384", str(n), str(k), str(first), str(count)]
    return subprocess.Popen(cmd, cwd=path.parent, env=mp_env(), stdout=subprocess.PIPE, text=True)


def _until_crash(proc: subprocess.Popen) -> list[str]:
    """Read the run's lines; SIGKILL it at CRASHPOINT (power cut) or let it finish."""
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line == "CRASHPOINT":
            os.kill(proc.pid, signal.SIGKILL)
            break
        lines.append(line)
    proc.wait(timeout=10)
    return lines


@settings(max_examples=15, deadline=None)
@given(rounds=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 40)), min_size=1, max_size=3))
def test_kill_9_during_journal_writes_loses_only_the_record_being_written(
        tmp_path_factory: pytest.TempPathFactory, rounds: list[tuple[int, int]]) -> None:
    """Each round: a process appends and removes, is killed mid-write at write N after K bytes."""
    path = tmp_path_factory.mktemp("kill9") / "journal.bin"
    acked: dict[int, str] = {}  # seq -> data, append returned and not removed
    first = 0
    for n, k in rounds:
        lines = _until_crash(_run(path, n, k, first, 30))
        in_flight_append = f"rec {first + sum(1 for x in lines if x.startswith('APPENDED'))}"
        in_flight_remove = None
        for line in lines:
            word, *rest = line.split()
            if word == "APPENDED":
                acked[int(rest[0])] = f"rec {rest[1]}"
                in_flight_remove = None
            elif word == "REMOVING":
                in_flight_remove = int(rest[0])
            elif word == "REMOVED":
                acked.pop(int(rest[0]))
                in_flight_remove = None
        proc = subprocess.run([micropython_binary(), str(MP_TESTS_DIR / "journal_crash_run.py"),
                               str(path), "16384", "0", "0", "0", "0"],
                              cwd=path.parent, env=mp_env(), capture_output=True, text=True, timeout=30)
        out = proc.stdout.splitlines()
        assert out[-1].startswith("DROPPED"), proc.stdout + proc.stderr
        found = {seq: data for seq, _kind, data in json.loads(out[0])}
        if in_flight_remove is not None and in_flight_remove not in found:
            acked.pop(in_flight_remove)  # the whole ack reached flash before the cut
        for seq, data in acked.items():
            assert found.get(seq) == data, f"acked record {seq} lost after kill at write {n}+{k}"
        for seq, data in found.items():
            if seq in acked:
                continue
            # only the operation in flight at the cut may differ: a whole torn append, or a torn ack
            assert seq == in_flight_remove or data == in_flight_append, f"unexpected record {seq} {data}"
            acked[seq] = data
        assert len(acked) == len(found)
        first += 100
