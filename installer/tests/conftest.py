"""Fixtures of the installer tests: a host bundle, a backend, the pseudo-terminal board, a plant.

Everything runs on loopback with free ports; every process started here is stopped by its
fixture. The board is the real MicroPython unix port behind a pseudo-terminal (installer.ptyboard)
and every exchange with it goes through the real mpremote.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.backend_proc import BackendProc, sqlite_url
from hil_tests.dut import FIRMWARE_DIR
from installer.build import build_bundle
from installer.ptyboard import PtyBoard
from installer.simrig import SimStation


def new_id(prefix: str = "FG-T") -> str:
    """A station id no other test uses."""
    return f"{prefix}-{secrets.token_hex(3).upper()}"


@pytest.fixture(scope="session")
def firmware_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of firmware/ (no tests): bundles compared with each other come from one source,
    whatever changes in the working tree during the run."""
    src = tmp_path_factory.mktemp("src") / "firmware"
    shutil.copytree(FIRMWARE_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return src


@pytest.fixture(scope="session")
def host_bundle(tmp_path_factory: pytest.TempPathFactory, firmware_src: Path) -> Path:
    """The firmware built for the unix port, once per run."""
    out = tmp_path_factory.mktemp("bundle") / "host"
    build_bundle("host", out, src=firmware_src)
    return out


@pytest.fixture(scope="session")
def marked_bundle(tmp_path_factory: pytest.TempPathFactory, firmware_src: Path) -> Path:
    """A second firmware version: log.py changed so that it prints FWMARK-B when it loads."""
    root = tmp_path_factory.mktemp("fw-b")
    src = root / "firmware"
    shutil.copytree(firmware_src, src)
    (src / "log.py").write_text((src / "log.py").read_text() + "\nprint('FWMARK-B')\n")
    out = root / "bundle"
    build_bundle("host", out, src=src, version="test-b")
    return out


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProc]:
    """A `frostgrid backend` on SQLite, loopback, free ports."""
    work = tmp_path_factory.mktemp("backend")
    # generous: the backend starts in seconds, but a loaded CI machine may take a minute or more
    be = BackendProc(sqlite_url(work / "backend.db"), cwd=work).start(timeout=240)
    try:
        yield be
    finally:
        be.stop()


@pytest.fixture()
def board(tmp_path: Path) -> Iterator[PtyBoard]:
    """A powered pseudo-terminal board with an empty flash."""
    b = PtyBoard(tmp_path / "flash").power_on()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture()
def station() -> Iterator[SimStation]:
    """A healthy simulated station (AC-7 zones at -20 °C, DTSU666 meter) with a fresh id."""
    s = SimStation(new_id())
    try:
        yield s
    finally:
        s.close()
