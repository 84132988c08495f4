"""Firmware code footprint: the live heap each firmware module holds once imported from `.mpy`.

`python -m bench.firmware_footprint` compiles the firmware with `mpy-cross` (default `-O3`, the
flags of hil_tests/build_mpy.py) into a temporary tree, then, inside MicroPython
(MICROPYPATH=<tree>:.frozen), imports the runtime modules the firmware uses (asyncio, json, ...),
then the modules of the spine one at a time in dependency order, and reports per module the
`gc.mem_alloc()` after `gc.collect()` minus the same figure before its import: what its code,
functions, classes, globals and interned qstrs hold on a board that loads `.mpy` files into RAM.
The spine is what `app` and the sim board import when they load (found by reading their import
statements). Modules loaded on demand (imported inside a function, or named in
`lazy.call("module", ...)`, transitively) are measured afterwards, one at a time, and dropped
again; qstrs stay interned, so `code_after_lazy_unload_bytes` shows what loading them once leaves
behind. MicroPython's dynamic qstr pools are 20, 40, 80, 160, 320, 640... entries: crossing 620
qstrs in all costs one more 7 kB pool, hence the qstr counts.

Prints `name: value unit` lines and writes `bench/results/firmware_footprint.json`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
RESULTS = REPO / "bench" / "results" / "firmware_footprint.json"
ROOTS = ("app", "board.sim")  # board.sim: imported by make_board at boot, counted as code
# loaded on demand but never in a charging session: the other board, the journal's test hook
NOT_IN_SESSION = ("board.esp32", "journal_crash",
                  # only when station.json configures zones / a Modbus meter (issue 3, app_cold.py):
                  # not part of the default session this bench measures
                  "app_cold_make", "board.sim_cold", "board.sim_uart",
                  # (app_boot.restart saves a cold station's learning through it before a Reset)
                  "app_cold_evt",
                  # the heap reporter of the test rig and the bench (station.json heap_report_ms):
                  # its few names are the margin the qstr budget keeps for the runner
                  "app_heap")
SKIP_DIRS = {"tests", "__pycache__"}
DEFAULT_FLAGS = "-O3"
GOAL_CODE_BYTES = 55 * 1024
QSTR_POOL_LIMIT = 620  # dynamic qstrs before MicroPython allocates its 640-entry pool


def _binary(name: str) -> str:
    for c in (Path(sys.executable).parent / name, REPO / ".venv" / "bin" / name, shutil.which(name)):
        if c and Path(c).exists():
            return str(c)
    raise RuntimeError(f"{name} not found: run scripts/bootstrap.sh")


def module_files(src: Path = FIRMWARE) -> dict[str, Path]:
    """Firmware module name (dotted) -> source file, without main.py, tests and package markers."""
    out = {}
    for p in sorted(src.rglob("*.py")):
        rel = p.relative_to(src)
        if SKIP_DIRS & set(rel.parts[:-1]) or rel in (Path("main.py"), Path("__init__.py")):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _lazy_names(node: ast.AST) -> list[str]:
    """Module names a `lazy.call(<name>, ...)` may load (a constant, or either side of an `if`)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "lazy"
            and node.func.attr == "call" and node.args):
        return []
    arg = node.args[0]
    options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
    return [o.value for o in options if isinstance(o, ast.Constant) and isinstance(o.value, str)]


def _imports(tree: ast.Module) -> tuple[list[str], list[str]]:
    """(imports run when the module loads, imports run later) as dotted names."""
    eager: list[str] = []
    later: list[str] = []

    def walk(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                walk(child, True)
                continue
            later.extend(_lazy_names(child))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                # `from board.sim import X` loads board.sim; `from board import sim` may name a submodule
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
            (later if in_func else eager).extend(names)
            walk(child, in_func)

    walk(tree, False)
    return eager, later


def import_graph(files: dict[str, Path]) -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
    """Per firmware module: eager and on-demand firmware imports; plus the runtime modules named."""
    eager: dict[str, list[str]] = {}
    later: dict[str, list[str]] = {}
    runtime: set[str] = set()
    for name, path in files.items():
        e, lz = _imports(ast.parse(path.read_text()))
        for found, dst in ((e, eager), (lz, later)):
            mods = []
            for m in found:
                if m in files:
                    if "." in m and m.rsplit(".", 1)[0] in files:
                        mods.append(m.rsplit(".", 1)[0])
                    mods.append(m)
                elif found is e and m.split(".")[0] not in files:
                    runtime.add(m.split(".")[0])
            dst[name] = [m for m in dict.fromkeys(mods) if m != name]
    return eager, later, runtime


def spine_order(eager: dict[str, list[str]], roots: tuple[str, ...] = ROOTS) -> list[str]:
    """Modules loaded by importing `roots`, dependencies first (the order MicroPython loads them)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(m: str) -> None:
        if m in seen:
            return
        seen.add(m)
        if "." in m:
            visit(m.rsplit(".", 1)[0])  # the package loads before its submodule
        for d in eager.get(m, []):
            visit(d)
        order.append(m)

    for r in roots:
        visit(r)
    return order


def on_demand(spine: list[str], later: dict[str, list[str]]) -> list[str]:
    """What the spine loads on demand, and what that loads on demand in turn."""
    found: set[str] = set()
    todo = list(spine)
    while todo:
        for m in later.get(todo.pop(), []):
            if m not in spine and m not in found and m not in NOT_IN_SESSION:
                found.add(m)
                todo.append(m)
    return sorted(found)


def build_tree(dst: Path, flags: list[str], src: Path = FIRMWARE) -> int:
    """Compile every firmware module into `dst` with mpy-cross `flags`; return the bytes written.

    As hil_tests/build_mpy.py does, the source name stored for tracebacks is the module's own name
    (`rpc`, not `rpc.py`): a qstr that exists anyway, instead of one more per module.
    """
    cross = _binary("mpy-cross")
    total = 0
    errors = []
    for path in module_files(src).values():
        rel = path.relative_to(src)
        out = dst / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([cross, *flags, "-s", rel.stem, "-o", str(out), str(path)],
                              capture_output=True, text=True)
        if proc.returncode:
            errors.append(f"{rel}: {proc.stderr.strip()}")
            continue
        total += out.stat().st_size
    if errors:
        raise RuntimeError("mpy-cross failed:\n" + "\n".join(errors))
    shutil.copy2(src / "main.py", dst / "main.py")
    return total


_PROBE = """
import gc, sys
from micropython import qstr_info
def _m():
    gc.collect()
    return gc.mem_alloc()
_b = _m()
for _n in RUNTIME:
    try:
        __import__(_n)
    except ImportError:
        pass
print('R', _m() - _b)
qstr_info()
_s = _m()
for _n in SPINE:
    _a = _m()
    __import__(_n)
    print('S', _n, _m() - _a)
    qstr_info()
print('T', _m() - _s)
print('QT')
qstr_info()
for _n in LAZY:
    _k = list(sys.modules)
    _a = _m()
    __import__(_n)
    print('L', _n, _m() - _a)
    for _x in list(sys.modules):
        if _x not in _k:
            del sys.modules[_x]
print('E', _m() - _s)
print('QE')
qstr_info()
"""


def _qstr_line(line: str) -> tuple[int, int, int]:
    """(pools, qstrs, bytes) from a `qstr pool: n_pool=.., n_qstr=.., ...` line."""
    kv = dict(x.strip().split("=") for x in line.split(":", 1)[1].split(","))
    return int(kv["n_pool"]), int(kv["n_qstr"]), int(kv["n_total_bytes"])


def probe(tree: Path, runtime: list[str], spine: list[str], lazy: list[str],
          heap: str = "4m") -> dict[str, Any]:
    """Run the import probe in MicroPython with MICROPYPATH=<tree>:.frozen."""
    script = f"RUNTIME = {runtime!r}\nSPINE = {spine!r}\nLAZY = {lazy!r}\n" + _PROBE
    env = dict(os.environ, MICROPYPATH=f"{tree}:.frozen")
    with tempfile.TemporaryDirectory(prefix="fg-fp-") as cwd:
        proc = subprocess.run([_binary("micropython"), "-X", f"heapsize={heap}", "-c", script],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"probe failed:\n{proc.stdout}\n{proc.stderr}")
    res: dict[str, Any] = {"modules": {}, "lazy": {}, "qstrs": {}, "qstr_bytes": {}}
    prev: tuple[int, int, int] | None = None
    last: str | None = None
    tag: str | None = None
    for line in proc.stdout.splitlines():
        f = line.split()
        if line.startswith("qstr pool:"):
            q = _qstr_line(line)
            if tag:
                res["pools_" + tag] = q
                tag = None
            else:
                if last is not None and prev is not None:
                    res["qstrs"][last] = q[1] - prev[1]
                    res["qstr_bytes"][last] = q[2] - prev[2]
                prev = q
        elif f[0] in ("QT", "QE"):
            tag = "import" if f[0] == "QT" else "lazy"
        elif f[0] == "R":
            res["runtime"] = int(f[1])
        elif f[0] == "S":
            res["modules"][f[1]] = int(f[2])
            last = f[1]
        elif f[0] == "L":
            res["lazy"][f[1]] = int(f[2])
        elif f[0] == "T":
            res["total"] = int(f[1])
        elif f[0] == "E":
            res["after_lazy"] = int(f[1])
    return res


def measure(flags: list[str], source: bool = False) -> dict[str, Any]:
    """Build (unless `source`) and probe; the figures as a dict."""
    files = module_files()
    eager, later, runtime = import_graph(files)
    spine = spine_order(eager)
    lazy = on_demand(spine, later)
    with tempfile.TemporaryDirectory(prefix="fg-mpy-") as tmp:
        tree = FIRMWARE if source else Path(tmp)
        size = None if source else build_tree(tree, flags)
        res = probe(tree, sorted(runtime - {"micropython"}), spine, lazy)
    res["mpy_bytes"] = size
    return res


def _line(name: str, value: Any, unit: str) -> None:
    print(f"{name}: {value} {unit}".rstrip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit status 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flags", default=DEFAULT_FLAGS, help=f"mpy-cross flags (default {DEFAULT_FLAGS!r})")
    ap.add_argument("--source", action="store_true", help="import the .py sources instead (compiled on load)")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = ap.parse_args(argv)
    flags = shlex.split(args.flags)
    res = measure(flags, args.source)
    how = ".py sources" if args.source else f".mpy (mpy-cross {args.flags})"
    print(f"# firmware imported from {how}; qstrs and their bytes are part of each module's figure")
    for m, v in res["modules"].items():
        _line(f"import_{m}_bytes", v, "bytes")
        _line(f"import_{m}_qstrs", res["qstrs"].get(m), "qstrs")
    for m, v in res["lazy"].items():
        _line(f"on_demand_{m}_bytes", v, "bytes")
    _line("runtime_import_bytes", res["runtime"], "bytes")
    _line("code_after_import_bytes", res["total"], "bytes")
    _line("code_after_on_demand_loaded_once_bytes", res["after_lazy"], "bytes")
    for k in ("import", "lazy"):
        pools, qstrs, nbytes = res["pools_" + k]
        label = "after_import" if k == "import" else "after_on_demand_loaded_once"
        _line(f"qstrs_{label}", qstrs, "qstrs")
        _line(f"qstr_pool_bytes_{label}", nbytes, "bytes")
    if res["mpy_bytes"] is not None:
        _line("mpy_tree_bytes", res["mpy_bytes"], "bytes")
    if not args.no_write:
        out = {
            "source": "py" if args.source else "mpy",
            "mpy_cross_flags": None if args.source else flags,
            "import_bytes": res["modules"],
            "import_qstrs": res["qstrs"],
            "on_demand_bytes": res["lazy"],
            "runtime_import_bytes": res["runtime"],
            "code_after_import_bytes": res["total"],
            "code_after_on_demand_loaded_once_bytes": res["after_lazy"],
            "qstrs_after_import": res["pools_import"][1],
            "qstrs_after_on_demand_loaded_once": res["pools_lazy"][1],
            "mpy_tree_bytes": res["mpy_bytes"],
            "goals": {"code_after_import_bytes_max": GOAL_CODE_BYTES, "qstrs_max": QSTR_POOL_LIMIT},
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine()},
            "command": " ".join(["python -m bench.firmware_footprint", *(argv or sys.argv[1:])]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
        print(f"# written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
