"""`frostgrid device deploy`: changed files only, verified on the board, and a cut at any moment
leaves a firmware that boots."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from hil_tests.backend_proc import frostgrid_binary
from installer.build import MANIFEST, sha256_file
from installer.deploy import deploy
from installer.link import BoardError
from installer.ptyboard import PtyBoard


def _live_files(flash: Path, folder: str) -> dict[str, str]:
    root = flash / folder
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}


def _bundle_files(bundle: Path) -> dict[str, str]:
    manifest = json.loads((bundle / MANIFEST).read_text())
    out = {e["path"][3:]: e["sha256"] for e in manifest["files"] if e["path"].startswith("fw/")}
    out[MANIFEST] = sha256_file(bundle / MANIFEST)
    return out


def _write_station(flash: Path) -> None:
    # enough for the firmware to boot and log BOOT (no plant, no backend listening)
    (flash / "station.json").write_text(
        json.dumps(
            {
                "id": "FG-DEPLOY",
                "url": "ws://127.0.0.1:9/ocpp",
                "password": "x",
                "board": "sim",
                "plant": "127.0.0.1:9",
            }
        )
    )


def _boots(board: PtyBoard) -> str:
    """Power-cycle; return 'A' or 'B' for the firmware that booted."""
    board.power_off()
    since = board.mark()
    board.power_on()
    end = board.wait_for("BOOT id=FG-DEPLOY", timeout=30, since=since)
    return "B" if b"FWMARK-B" in board.output[since:end] else "A"


def test_first_deploy_sends_every_file_and_the_board_holds_exactly_the_bundle(
    board: PtyBoard, host_bundle: Path
) -> None:
    report = deploy(board.port, host_bundle)
    want = _bundle_files(host_bundle)
    assert sorted(report.sent) == sorted(want) and report.kept == []
    assert report.verified == len(want)
    assert _live_files(board.flash_dir, "fw") == want
    assert (board.flash_dir / "main.py").read_bytes() == (host_bundle / "main.py").read_bytes()
    assert not (board.flash_dir / "fw.new").exists() and not (board.flash_dir / "fw.prev").exists()


def test_second_deploy_sends_only_the_files_whose_hash_differs(
    board: PtyBoard, host_bundle: Path, marked_bundle: Path
) -> None:
    deploy(board.port, host_bundle)
    report = deploy(board.port, marked_bundle)
    assert sorted(report.sent) == ["log.mpy", MANIFEST]
    assert len(report.kept) == len(_bundle_files(marked_bundle)) - 2
    assert report.previous_version == json.loads((host_bundle / MANIFEST).read_text())["version"]
    assert report.version == "test-b"
    assert _live_files(board.flash_dir, "fw") == _bundle_files(marked_bundle)
    again = deploy(board.port, marked_bundle)
    assert again.sent == [MANIFEST] or again.sent == []  # nothing but (at most) the manifest


@pytest.mark.parametrize("cut_at", ["sending", "verify", "boot", "switched-out", "cleanup"])
def test_power_cut_during_deploy_leaves_a_firmware_that_boots(
    board: PtyBoard, host_bundle: Path, marked_bundle: Path, cut_at: str
) -> None:
    _write_station(board.flash_dir)
    deploy(board.port, host_bundle)
    assert _boots(board) == "A"

    def on_step(name: str) -> None:
        if name == cut_at:
            board.power_off()

    def on_progress(what: str, advance: int, total: int) -> None:
        if cut_at == "sending" and what == "bytes":
            board.power_off()  # in the middle of the first file sent

    with pytest.raises(BoardError):
        deploy(board.port, marked_bundle, progress=on_progress, on_step=on_step)
    booted = _boots(board)
    # until fw.new is renamed to fw the old firmware runs; after that, the new one, complete
    assert booted == ("B" if cut_at == "cleanup" else "A")
    live = "fw" if (board.flash_dir / "fw").exists() else "fw.prev"
    assert _live_files(board.flash_dir, live) == _bundle_files(
        marked_bundle if booted == "B" else host_bundle
    )

    deploy(board.port, marked_bundle)  # the next deploy completes from whatever the cut left
    assert _boots(board) == "B"
    assert sorted(p.name for p in board.flash_dir.iterdir() if p.name.startswith("fw")) == ["fw"]


def _kill_deploy_midway(board: PtyBoard, bundle: Path) -> None:
    """Run `frostgrid device deploy` and SIGKILL it once a few files are staged on the board."""
    proc = subprocess.Popen(
        [frostgrid_binary(), "device", "deploy", "--port", board.port, "--bundle", str(bundle), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = board.flash_dir / "fw.new"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if staging.is_dir() and len(list(staging.iterdir())) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the deploy ended before it could be interrupted"
    finally:
        proc.kill()
        proc.wait(10)


def test_killing_the_deploy_command_leaves_the_previous_firmware_and_a_new_deploy_completes(
    board: PtyBoard, host_bundle: Path, marked_bundle: Path
) -> None:
    _write_station(board.flash_dir)
    deploy(board.port, host_bundle)
    _kill_deploy_midway(board, marked_bundle)
    assert _boots(board) == "A"
    _kill_deploy_midway(board, marked_bundle)
    deploy(board.port, marked_bundle)  # straight after, without a power cycle: the link recovers
    assert _boots(board) == "B"
