"""`frostgrid device build`: the firmware compiled with mpy-cross into a bundle with a manifest.

A bundle is a folder:

    manifest.json   what is in it (below); not listed in itself
    main.py         the boot selector (installer/onboard/main.py): the board's root main.py
    fw/...          the firmware: every module as .mpy (board/ kept as a package), main.py as source

`manifest.json` holds the format, the target, the firmware version (`git describe`, or the
package version outside a git checkout), the mpy-cross version and flags, and one entry per file
(`path`, `size`, `sha256`) sorted by path. It has no time stamp and is written with sorted keys,
so the same sources built with the same mpy-cross give a byte-identical manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hil_tests import build_mpy
from hil_tests.dut import FIRMWARE_DIR, REPO_DIR

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
BOOT_MAIN = Path(__file__).resolve().parent / "onboard" / "main.py"
FW_DIR = "fw"  # the firmware's folder on the board and in the bundle
# target -> mpy-cross -march (None: portable bytecode, what the unix port on the host runs)
TARGETS: dict[str, str | None] = {"xtensawin": "xtensawin", "host": None}


class BuildError(RuntimeError):
    """The firmware could not be built (a compile error, no mpy-cross, an unknown target)."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a bundle: its path (POSIX, relative to the bundle), size and SHA-256."""

    path: str
    size: int
    sha256: str


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


def firmware_version(repo: Path = REPO_DIR) -> str:
    """`git describe --tags --always --dirty` of the checkout, else the installed package version."""
    try:
        proc = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return metadata.version("frostgrid")
    except metadata.PackageNotFoundError:
        return "unknown"


def mpy_cross_version() -> str:
    """The first line of `mpy-cross --version` (it decides the .mpy bytes)."""
    proc = subprocess.run([build_mpy.mpy_cross_binary(), "--version"], capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip().splitlines()[0]


def list_files(bundle: Path) -> list[FileEntry]:
    """Every file of `bundle` except the manifest, sorted by path."""
    out = []
    for p in sorted(bundle.rglob("*")):
        rel = p.relative_to(bundle).as_posix()
        if p.is_file() and rel != MANIFEST:
            out.append(FileEntry(rel, p.stat().st_size, sha256_file(p)))
    return sorted(out, key=lambda e: e.path)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The canonical encoding: sorted keys, fixed separators, one trailing newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1, separators=(",", ": ")) + "\n").encode()


def build_bundle(
    target: str, out: Path, src: Path = FIRMWARE_DIR, version: str | None = None
) -> dict[str, Any]:
    """Compile `src` for `target` into a fresh bundle at `out`; return the manifest written."""
    if target not in TARGETS:
        raise BuildError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    try:
        # build next to `out`, then replace it: a failed build leaves the previous bundle alone
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
            stage = Path(tmp) / "bundle"
            build_mpy.build(src, stage / FW_DIR, march=TARGETS[target])
            shutil.copyfile(BOOT_MAIN, stage / "main.py")
            manifest: dict[str, Any] = {
                "format": MANIFEST_FORMAT,
                "target": target,
                "version": version or firmware_version(),
                "mpy_cross": mpy_cross_version(),
                "mpy_flags": ["-O3"] + ([f"-march={TARGETS[target]}"] if TARGETS[target] else []),
                "files": [e.__dict__ for e in list_files(stage)],
            }
            (stage / MANIFEST).write_bytes(manifest_bytes(manifest))
            if out.exists():
                shutil.rmtree(out)
            stage.rename(out)
    except RuntimeError as error:  # mpy-cross missing or a compile error, with its message
        raise BuildError(str(error)) from None
    return manifest


def load_manifest(bundle: Path) -> dict[str, Any]:
    """Read a bundle's manifest and check that every file it lists is there with its hash."""
    path = bundle / MANIFEST
    if not path.exists():
        raise BuildError(f"{bundle} is not a bundle: no {MANIFEST} (run `frostgrid device build`)")
    manifest: dict[str, Any] = json.loads(path.read_text())
    for e in manifest["files"]:
        f = bundle / e["path"]
        if not f.is_file() or sha256_file(f) != e["sha256"]:
            raise BuildError(f"{bundle}: {e['path']} is missing or differs from the manifest; build again")
    return manifest
