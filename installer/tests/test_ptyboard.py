"""The pseudo-terminal board speaks the real mpremote protocol, like a board on a USB port."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from mpremote.transport_serial import SerialTransport

from installer.link import BoardLink, PortError
from installer.ptyboard import PtyBoard


def _mpremote(port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", port, *args], capture_output=True, text=True, timeout=60
    )


def test_mpremote_runs_code_copies_lists_and_hashes_files_on_the_board(
    board: PtyBoard, tmp_path: Path
) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(bytes(range(256)) * 40)
    r = _mpremote(board.port, "exec", "print(6 * 7)")
    assert r.returncode == 0 and r.stdout.strip() == "42", r
    r = _mpremote(
        board.port, "fs", "cp", str(local), ":data.bin", "+", "fs", "ls", "+", "fs", "sha256sum", ":data.bin"
    )
    assert r.returncode == 0, r
    assert "data.bin" in r.stdout
    assert hashlib.sha256(local.read_bytes()).hexdigest() in r.stdout
    assert (board.flash_dir / "data.bin").read_bytes() == local.read_bytes()  # it is the board's flash


def test_ctrl_c_stops_the_running_main_py_and_the_raw_repl_answers(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("import time\nprint('APP RUNNING')\nwhile True:\n    time.sleep_ms(50)\n")
    with PtyBoard(flash) as b:
        b.power_on()
        b.wait_for("APP RUNNING")
        with BoardLink(b.port) as link:
            assert link.exec("import sys\nprint(sys.implementation.name)").strip() == "micropython"
        assert b.boots == 2  # the soft reset restarted the interpreter, without main.py


def test_a_port_held_by_another_program_is_reported_busy(board: PtyBoard) -> None:
    other = SerialTransport(board.port, timeout=1)  # mpremote holds the port exclusively
    try:
        with pytest.raises(PortError, match="busy"), BoardLink(board.port):
            pass
    finally:
        other.close()


def test_a_missing_port_is_reported_as_not_there(tmp_path: Path) -> None:
    with pytest.raises(PortError, match="does not exist"), BoardLink(str(tmp_path / "ttyUSB9")):
        pass
