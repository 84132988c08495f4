"""`frostgrid device deploy`: put a bundle on a board so that a cut at any moment leaves it bootable.

On the board (paths relative to its flash root):

    main.py     the boot selector: runs fw/, or fw.prev/ when fw/ is missing
    fw/         the live firmware (+ fw/manifest.json, the bundle's manifest)
    fw.new/     staging, only during a deploy
    fw.prev/    the previous firmware, only between the two renames of the switch

Steps (each a separate exchange with the board, named for progress and for tests that cut the
power between any two of them):
  scan      hash every file of the live firmware on the board
  stage     empty fw.new/; copy there, on the board, the live files whose hash matches the bundle,
            and send over the serial link only the files that differ
  verify    hash every file of fw.new/ on the board; anything missing, extra or different stops
            the deploy with the live firmware untouched
  boot      write the boot selector as main.py.new, check its hash, rename it over main.py
  switch    fw -> fw.prev, then fw.new -> fw (the boot selector covers the instant between them)
  cleanup   remove fw.prev/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from installer.build import FW_DIR, MANIFEST, load_manifest, sha256_file
from installer.link import BoardError, BoardLink

STAGING = FW_DIR + ".new"
PREVIOUS = FW_DIR + ".prev"
STEPS = ("scan", "stage", "verify", "boot", "switch", "switched-out", "cleanup", "done")

# MicroPython helpers defined once per session on the board (names start with _fg to stay clear
# of anything else there).
_HELPERS = """
import os
def _fg_isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False
def _fg_rm(d):
    if not _fg_isdir(d):
        return
    for e in list(os.ilistdir(d)):
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _fg_rm(p)
        else:
            os.remove(p)
    os.rmdir(d)
def _fg_mkdirs(p):
    q = ''
    for part in p.split('/'):
        q = q + '/' + part if q else part
        if not _fg_isdir(q):
            os.mkdir(q)
def _fg_copy(a, b, buf=bytearray(512)):
    mv = memoryview(buf)
    with open(a, 'rb') as fa:
        with open(b, 'wb') as fb:
            while True:
                n = fa.readinto(buf)
                if not n:
                    break
                fb.write(mv[:n])
"""


@dataclass
class DeployReport:
    """What a deploy did."""

    version: str
    target: str
    previous_version: str | None
    sent: list[str] = field(default_factory=list)  # files sent over the serial link
    kept: list[str] = field(default_factory=list)  # files copied on the board (hash unchanged)
    bytes_sent: int = 0
    verified: int = 0  # files whose hash was checked on the board
    platform: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For `--json`."""
        return dict(self.__dict__)


Progress = Callable[[str, int, int], None]  # (what, advance, total): bytes sent, files staged


def _bundle_files(bundle: Path, manifest: dict[str, Any]) -> dict[str, tuple[str, Path]]:
    """{path under fw/: (sha256, local file)} including the manifest itself."""
    prefix = FW_DIR + "/"
    out = {
        e["path"][len(prefix) :]: (e["sha256"], bundle / e["path"])
        for e in manifest["files"]
        if e["path"].startswith(prefix)
    }
    out[MANIFEST] = (sha256_file(bundle / MANIFEST), bundle / MANIFEST)
    return out


def deploy(
    port: str,
    bundle: Path,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
    link: BoardLink | None = None,
) -> DeployReport:
    """Deploy `bundle` to the board on `port`; see the module docstring. Raises BoardError."""
    manifest = load_manifest(bundle)
    files = _bundle_files(bundle, manifest)
    boot_main = bundle / "main.py"

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    def tick(what: str, advance: int, total: int) -> None:
        if progress is not None:
            progress(what, advance, total)

    own = link is None
    b = link or BoardLink(port)
    if own:
        b.__enter__()
    try:
        b.exec(_HELPERS)
        platform = b.exec("import sys\nprint(sys.platform)").strip()
        step("scan")
        live = None
        live_hashes: dict[str, str] = {}
        for d in (FW_DIR, PREVIOUS):
            tree = b.hash_tree(d)
            if tree is not None and "main.py" in tree:
                live, live_hashes = d, tree
                break
        previous_version = None
        if live is not None and MANIFEST in live_hashes:
            raw = b.read_file(f"{live}/{MANIFEST}")
            try:
                previous_version = json.loads(raw or b"{}").get("version")
            except ValueError:
                previous_version = None
        report = DeployReport(manifest["version"], manifest["target"], previous_version, platform=platform)

        step("stage")
        b.exec(f"_fg_rm({STAGING!r})\n_fg_mkdirs({STAGING!r})")
        dirs = sorted({str(Path(p).parent) for p in files if "/" in p})
        for d in dirs:
            b.exec(f"_fg_mkdirs({STAGING + '/' + d!r})")
        to_send = [p for p, (sha, _) in sorted(files.items()) if live_hashes.get(p) != sha]
        total_bytes = sum(files[p][1].stat().st_size for p in to_send)
        for p in sorted(files):
            if p in to_send:
                data = files[p][1].read_bytes()
                b.write_file(f"{STAGING}/{p}", data, progress=lambda n: tick("bytes", n, total_bytes))
                report.sent.append(p)
                report.bytes_sent += len(data)
            else:
                b.exec(f"_fg_copy({live + '/' + p!r}, {STAGING + '/' + p!r})")
                report.kept.append(p)
            tick("files", 1, len(files))

        step("verify")
        staged = b.hash_tree(STAGING) or {}
        want = {p: sha for p, (sha, _) in files.items()}
        bad = sorted(p for p in set(want) | set(staged) if want.get(p) != staged.get(p))
        if bad:
            raise BoardError(
                f"verification on the board failed for {', '.join(bad[:5])}"
                f"{' …' if len(bad) > 5 else ''}; the live firmware is unchanged"
            )
        report.verified = len(staged)

        step("boot")
        boot_sha = sha256_file(boot_main)
        if b.sha256("main.py") != boot_sha:
            b.write_file("main.py.new", boot_main.read_bytes())
            if b.sha256("main.py.new") != boot_sha:
                raise BoardError("the boot selector main.py.new did not verify on the board")
            # littlefs (the ESP32 default) and the unix port replace the target; FAT does not
            b.exec(
                "try:\n os.rename('main.py.new', 'main.py')\nexcept OSError:\n"
                " os.remove('main.py')\n os.rename('main.py.new', 'main.py')"
            )

        step("switch")
        if live == FW_DIR:
            b.exec(f"_fg_rm({PREVIOUS!r})")
            b.exec(f"os.rename({FW_DIR!r}, {PREVIOUS!r})")
        else:  # no firmware, or the last deploy was cut after its first rename: fw/ is no live one
            b.exec(f"_fg_rm({FW_DIR!r})")
        step("switched-out")
        b.exec(f"os.rename({STAGING!r}, {FW_DIR!r})")
        step("cleanup")
        b.exec(f"_fg_rm({PREVIOUS!r})")
        step("done")
        return report
    finally:
        if own:
            b.close()
