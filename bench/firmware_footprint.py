"""Firmware code footprint: live heap each firmware module leaves behind when imported.

`python -m bench.firmware_footprint` compiles the firmware with `mpy-cross` (default `-O3`) into a
temporary tree, then, inside MicroPython, imports the modules of the spine (everything `app` and
the sim board import at module level, found by reading their import statements) one at a time in
dependency order and reports, per module, `gc.mem_alloc()` after `gc.collect()` minus the same
figure before the import: the RAM its code objects, functions, classes, globals and interned
qstrs hold on a board that loads `.mpy` files into RAM. Modules the spine imports only inside a
function or through `lazy.call("module", ...)` (loaded on demand) are measured afterwards, one at
a time, and unloaded again.
Runtime modules (asyncio, json, ...) are imported first and reported as one figure.

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
NOT_IN_SESSION = ("board.esp32", "journal_crash")
SKIP_DIRS = {"tests", "__pycache__"}
DEFAULT_FLAGS = "-O3"


_POOL_KEYS = ("pools", "qstrs", "bytes")

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


def _imports(tree: ast.Module) -> tuple[list[str], list[str]]:
    """(imports run when the module loads, imports inside functions) as dotted names."""
    eager: list[str] = []
    lazy: list[str] = []

    def names(node: ast.AST) -> list[str]:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "lazy"
                and node.func.attr == "call" and node.args and isinstance(node.args[0], ast.Constant)):
            return [node.args[0].value]  # lazy.call("module", ...): loaded for one call
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from board.sim import X` loads board.sim; `from board import sim` may name a submodule
            return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        return []

    def walk(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                walk(child, True)
                continue
            found = names(child)
            (lazy if in_func or isinstance(child, ast.Call) else eager).extend(found)
            walk(child, in_func)

    walk(tree, False)
    return eager, lazy


def import_graph(files: dict[str, Path]) -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
    """Per firmware module: eager and lazy firmware imports; plus the non-firmware modules named."""
    eager: dict[str, list[str]] = {}
    lazy: dict[str, list[str]] = {}
    runtime: set[str] = set()
    for name, path in files.items():
        e, lz = _imports(ast.parse(path.read_text()))
        for lst, dst in ((e, eager), (lz, lazy)):
            mods = []
            for m in lst:
                if m in files:
                    if "." in m and m.rsplit(".", 1)[0] in files:
                        mods.append(m.rsplit(".", 1)[0])
                    mods.append(m)
                elif lst is e and m.split(".")[0] not in files:
                    runtime.add(m.split(".")[0])
            dst[name] = [m for m in dict.fromkeys(mods) if m != name]
    return eager, lazy, runtime


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


def build_tree(dst: Path, flags: list[str], src: Path = FIRMWARE, stem_names: bool = True) -> int:
    """Compile every firmware module into `dst` with mpy-cross `flags`; return the bytes written.

    As hil_tests/build_mpy.py does: the source name stored for tracebacks is the module's own name
    (`rpc`, not `rpc.py`), a qstr that exists anyway, instead of one more qstr per module.
    """
    cross = _binary("mpy-cross")
    total = 0
    errors = []
    for _name, path in module_files(src).items():
        rel = path.relative_to(src)
        out = dst / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        name = rel.stem if stem_names else rel.as_posix()
        proc = subprocess.run([cross, *flags, "-s", name, "-o", str(out), str(path)],
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


def probe(tree: Path, runtime: list[str], spine: list[str], lazy: list[str],
          heap: str = "4m") -> dict[str, Any]:
    """Run the import probe in MicroPython with MICROPYPATH=<tree>:.frozen."""
    script = (f"RUNTIME = {runtime!r}\nSPINE = {spine!r}\nLAZY = {lazy!r}\n") + _PROBE
    env = dict(os.environ, MICROPYPATH=f"{tree}:.frozen")
    with tempfile.TemporaryDirectory(prefix="fg-fp-") as cwd:
        proc = subprocess.run([_binary("micropython"), "-X", f"heapsize={heap}", "-c", script],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"probe failed:\n{proc.stdout}\n{proc.stderr}")
    res: dict[str, Any] = {"modules": {}, "lazy": {}, "qstrs": {}, "qstr_bytes": {}}
    q0: tuple[int, int] | None = None
    last = None
    tag = None
    for line in proc.stdout.splitlines():
        f = line.split()
        if f[0] in ("QT", "QE"):
            tag = f[0]
            continue
        if line.startswith("qstr pool:"):
            kv = dict(x.strip().split("=") for x in line.split(":", 1)[1].split(","))
            q = (int(kv["n_qstr"]), int(kv["n_total_bytes"]))
            if tag:
                res["qstr_pools_" + ("import" if tag == "QT" else "lazy")] = (int(kv["n_pool"]), q[0], q[1])
                tag = None
                continue
            if last is not None and q0 is not None:
                res["qstrs"][last] = q[0] - q0[0]
                res["qstr_bytes"][last] = q[1] - q0[1]
            q0 = q
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
    eager, lazy_edges, runtime = import_graph(files)
    spine = spine_order(eager)
    lazy: set[str] = set()
    todo = list(spine)
    while todo:  # what the spine loads on demand, and what that loads on demand in turn
        for m in lazy_edges.get(todo.pop(), []):
            if m not in spine and m not in lazy and m not in NOT_IN_SESSION:
                lazy.add(m)
                todo.append(m)
    lazy = sorted(lazy)
    with tempfile.TemporaryDirectory(prefix="fg-mpy-") as tmp:
        tree = FIRMWARE if source else Path(tmp)
        size = None if source else build_tree(tree, flags)
        res = probe(tree, sorted(runtime - {"micropython"}), spine, lazy)
    res["mpy_bytes"] = size
    return res


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit status 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flags", default=DEFAULT_FLAGS, help=f"mpy-cross flags (default {DEFAULT_FLAGS!r})")
    ap.add_argument("--source", action="store_true", help="import the .py sources instead (compiled on load)")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = ap.parse_args(argv)
    flags = shlex.split(args.flags)
    res = measure(flags, args.source)
    origin = ".py sources" if args.source else ".mpy (mpy-cross " + args.flags + ")"
    print(f"# firmware imported from {origin}")
    for m, v in res["modules"].items():
        print(f"import_{m}_bytes: {v} bytes")
    for m in res["modules"]:
        nq, nb = res["qstrs"].get(m), res["qstr_bytes"].get(m)
        print(f"qstrs_{m}: {nq} qstrs ({nb} bytes of qstr pool and text)")
    for m, v in res["lazy"].items():
        print(f"lazy_{m}_bytes: {v} bytes")
    print(f"runtime_import_bytes: {res['runtime']} bytes")
    print(f"code_after_import_bytes: {res['total']} bytes")
    print(f"code_after_lazy_unload_bytes: {res['after_lazy']} bytes")
    for k in ("import", "lazy"):
        n_pool, n_qstr, n_bytes = res["qstr_pools_" + k]
        print(f"qstrs_after_{k}: {n_qstr} qstrs ({n_pool} pools, {n_bytes} bytes)")
    if res["mpy_bytes"] is not None:
        print(f"mpy_tree_bytes: {res['mpy_bytes']} bytes")
    if not args.no_write:
        out = {
            "source": "py" if args.source else "mpy",
            "mpy_cross_flags": None if args.source else flags,
            "import_bytes": res["modules"],
            "lazy_import_bytes": res["lazy"],
            "qstrs_interned": res["qstrs"],
            "qstr_pool_bytes": res["qstr_bytes"],
            "runtime_import_bytes": res["runtime"],
            "code_after_import_bytes": res["total"],
            "code_after_lazy_unload_bytes": res["after_lazy"],
            "qstr_pools_after_import": dict(zip(_POOL_KEYS, res["qstr_pools_import"], strict=False)),
            "qstr_pools_after_lazy": dict(zip(_POOL_KEYS, res["qstr_pools_lazy"], strict=False)),
            "mpy_tree_bytes": res["mpy_bytes"],
            "goal_code_after_import_bytes_max": 55 * 1024,
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine()},
            "command": "python -m bench.firmware_footprint "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
        print(f"# written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
