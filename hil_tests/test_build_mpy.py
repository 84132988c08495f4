"""The mpy-cross build of the firmware: every module compiled, the package layout kept."""

from __future__ import annotations

from pathlib import Path

from hil_tests.build_mpy import build, firmware_sources
from hil_tests.dut import FIRMWARE_DIR


def test_every_firmware_module_is_compiled_and_main_stays_source(tmp_path: Path) -> None:
    out = build(FIRMWARE_DIR, tmp_path / "fw")
    sources = firmware_sources()
    assert Path("app.py") in sources and Path("board/sim.py") in sources
    assert not [s for s in sources if s.parts[0] == "tests" or s.name == "main.py"]
    built = {p.relative_to(out) for p in out.rglob("*.mpy")}
    assert built == {s.with_suffix(".mpy") for s in sources}
    assert (out / "board" / "__init__.mpy").exists()
    assert (out / "main.py").read_text() == (FIRMWARE_DIR / "main.py").read_text()
    assert not list(out.rglob("*.py"))[1:], "only main.py stays source"
    for p in out.rglob("*.mpy"):
        assert p.read_bytes()[:1] == b"M", f"{p} is not an .mpy file"
