"""`frostgrid device flash`: the image and the port are checked before esptool writes anything,
and esptool's failures come back as messages an installer can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mpremote.transport_serial import SerialTransport
from typer.testing import CliRunner

from installer import flash as fl
from installer.cli import device_app
from installer.ptyboard import PtyBoard


def _image(path: Path, chip_id: int = 0, magic: int = 0xE9, size: int = 200_000) -> Path:
    head = bytearray(24)
    head[0] = magic
    head[1] = 3  # segments
    head[12:14] = chip_id.to_bytes(2, "little")
    path.write_bytes(bytes(head) + bytes(size - len(head)))
    return path


def _flash(*args: str) -> Any:
    return CliRunner().invoke(device_app, ["flash", *args, "--json"])


def test_esp32_image_gives_esptool_erase_then_write_at_0x1000(tmp_path: Path) -> None:
    img = _image(tmp_path / "ESP32_GENERIC.bin")
    p = fl.plan("/dev/ttyUSB0", img, "esp32", erase=True, baud=921600)
    assert [c[c.index("--baud") + 2] for c in p.commands] == ["erase-flash", "write-flash"]
    write = p.commands[-1]
    assert write[write.index("--chip") + 1] == "esp32" and write[write.index("--port") + 1] == "/dev/ttyUSB0"
    assert write[-2:] == ["0x1000", str(img)] and "921600" in write


def test_s3_image_is_written_at_address_zero(tmp_path: Path) -> None:
    p = fl.plan("/dev/ttyACM0", _image(tmp_path / "s3.bin", chip_id=9), "esp32s3")
    assert p.commands[-1][-2] == "0x0" and len(p.commands) == 1


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.bin", "micropython.org/download/ESP32_GENERIC"),
        (lambda d: _image(d / "x.elf", magic=0x7F), "magic byte 0xE9"),
        (lambda d: _image(d / "tiny.bin", size=1000), "not a MicroPython firmware image"),
        (lambda d: _image(d / "s3.bin", chip_id=9), "built for esp32s3, not esp32"),
    ],
    ids=["missing", "not-an-esp-image", "too-small", "other-chip"],
)
def test_bad_image_is_refused_before_the_port_is_touched(tmp_path: Path, make: Any, words: str) -> None:
    r = _flash("--port", str(tmp_path / "no-such-port"), "--image", str(make(tmp_path)))
    assert r.exit_code == 1
    assert words in json.loads(r.stdout)["error"]


def test_missing_port_is_reported_before_esptool_runs(tmp_path: Path) -> None:
    r = _flash("--port", str(tmp_path / "ttyUSB7"), "--image", str(_image(tmp_path / "fw.bin")))
    assert r.exit_code == 1 and "does not exist" in json.loads(r.stdout)["error"]


def test_busy_port_is_reported(tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "flash") as board:
        holder = SerialTransport(board.port, timeout=1)
        try:
            r = _flash("--port", board.port, "--image", str(_image(tmp_path / "fw.bin")))
        finally:
            holder.close()
    assert r.exit_code == 1 and "busy" in json.loads(r.stdout)["error"]


def test_a_port_without_esp32_bootloader_is_explained_by_the_real_esptool(tmp_path: Path) -> None:
    # the pty board runs MicroPython, not the ROM bootloader: esptool gets no sync answer
    with PtyBoard(tmp_path / "flash") as board:
        board.power_on()
        r = _flash(
            "--port", board.port, "--image", str(_image(tmp_path / "fw.bin")), "--connect-attempts", "1"
        )
    assert r.exit_code == 1
    assert "no ESP32 bootloader answers" in json.loads(r.stdout)["error"]


def test_esptool_reporting_another_chip_is_explained() -> None:
    msg = fl.explain_esptool(
        "A fatal error occurred: This chip is ESP32-S3, not ESP32. Wrong chip argument?",
        "/dev/ttyUSB0",
        "esp32",
    )
    assert "ESP32-S3, not esp32" in msg and "--chip esp32s3" in msg


def test_dry_run_prints_the_commands_without_flashing(tmp_path: Path) -> None:
    with PtyBoard(tmp_path / "flash") as board:
        r = _flash("--port", board.port, "--image", str(_image(tmp_path / "fw.bin")), "--dry-run", "--erase")
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["written"] is False
    assert out["commands"][0].endswith("erase-flash") and "write-flash" in out["commands"][1]
