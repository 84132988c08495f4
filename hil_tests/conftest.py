"""Fixtures of the test base: backend (SQLite in a temp dir), plant, link proxy, device factory.

Everything started here is stopped by the fixture's finalizer; no process outlives the test run.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil_tests import build_mpy
from hil_tests.backend_proc import BackendProc, sqlite_url
from hil_tests.dut import DEFAULT_HEAP, FIRMWARE_DIR, Dut, station_json
from hil_tests.plant import ThreadedPlant
from hil_tests.proxy import ThreadedProxy
from hil_tests.scenario import CARD, dut_config

# Heap cap of the firmware under test (override with FROSTGRID_DUT_HEAP, e.g. "96k").
DUT_HEAP = os.environ.get("FROSTGRID_DUT_HEAP", DEFAULT_HEAP)
# Which firmware the devices run: "mpy" (mpy-cross output, what a board runs; default) or "py".
DUT_FW = os.environ.get("FROSTGRID_DUT_FW", "mpy")
_ids = itertools.count(1)
# devices and backends of the test running now: their logs are attached to its report if it fails
watched: list[Dut | BackendProc] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the tail of every watched firmware and backend log to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.failed and rep.when in ("call", "setup"):
        for w in watched:
            name = f"firmware {w.id}" if isinstance(w, Dut) else "backend"
            rep.sections.append((f"{name} log (tail)", w.tail(80)))


def new_station_id(prefix: str = "HIL") -> str:
    """A station id no other test uses (short: OCPP identities are at most 20 characters here)."""
    return f"{prefix}-{next(_ids):03d}-{secrets.token_hex(2)}"


def start_backend(db_url: str, tmp: Path) -> BackendProc:
    """A started backend on `db_url` with the test card registered."""
    b = BackendProc(db_url, cwd=tmp)
    b.start()
    b.add_token(CARD)
    return b


@pytest.fixture(scope="session")
def firmware_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware tree devices run: compiled with mpy-cross once per session (or the sources)."""
    if DUT_FW == "py":
        return FIRMWARE_DIR
    return build_mpy.build(FIRMWARE_DIR, tmp_path_factory.mktemp("fw") / "firmware_mpy")


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProc]:
    """One backend on SQLite for the whole session (tests use their own station ids)."""
    tmp = tmp_path_factory.mktemp("backend")
    b = start_backend(sqlite_url(tmp / "frostgrid.db"), tmp)
    watched.append(b)
    yield b
    watched.remove(b)
    b.stop()


@pytest.fixture
def plant() -> Iterator[ThreadedPlant]:
    """A plant server on a free port (one per test)."""
    p = ThreadedPlant()
    yield p
    p.close()


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., ThreadedProxy]]:
    """Factory: `make_proxy(target_port, tap=True)` -> a link proxy on loopback; all closed after."""
    made: list[ThreadedProxy] = []

    def make(target_port: int, tap: bool = True, **kwargs: Any) -> ThreadedProxy:
        p = ThreadedProxy("127.0.0.1", target_port, tap=tap, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def proxy(backend: BackendProc, make_proxy: Callable[..., ThreadedProxy]) -> ThreadedProxy:
    """A tapping link proxy in front of the session backend's OCPP port."""
    return make_proxy(backend.port)


MakeDut = Callable[..., Dut]


def dut_factory(tmp: Path, plant: ThreadedPlant, fw: Path = FIRMWARE_DIR) -> tuple[MakeDut, list[Dut]]:
    """A device factory for `plant` (see the `make_dut` fixture) and the list of devices it made."""
    made: list[Dut] = []

    def make(backend: BackendProc, url: str | None = None, station_id: str | None = None,
             password: str | None = None, register: bool = True, config: dict[str, Any] | None = None,
             heap: str | int = DUT_HEAP, fw_dir: Path | None = None, **station_extra: Any) -> Dut:
        sid = station_id or new_station_id()
        pw = password or secrets.token_hex(8)
        if register:
            backend.add_station(sid, pw)
        st = station_json(sid, url or backend.ocpp_url, pw, plant.address, **station_extra)
        dut = Dut(tmp / sid, st, config=dut_config() if config is None else config,
                  fw_dir=fw_dir or fw, heap=heap)
        made.append(dut)
        watched.append(dut)
        return dut

    return make, made


@pytest.fixture
def make_dut(tmp_path: Path, plant: ThreadedPlant, firmware_dir: Path) -> Iterator[MakeDut]:
    """Factory: `make_dut(backend, url=None, config=None, heap=..., **station_json_extra)` -> a
    registered, not yet started `Dut` on this test's plant; every device is killed after the test."""
    make, made = dut_factory(tmp_path, plant, firmware_dir)
    yield make
    for d in made:
        d.stop()
        if d in watched:
            watched.remove(d)
