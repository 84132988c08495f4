"""`frostgrid device flash`: write a MicroPython image to an ESP32 with esptool, checked first.

The installer supplies the image (official builds: https://micropython.org/download/ESP32_GENERIC/,
the `.bin` "firmware" file, a merged image for address 0x1000 on the original ESP32, 0x0 on the
S3/C3/C6). Before esptool touches the board: the image exists, has a plausible size, starts with
the ESP image magic byte 0xE9, and its header names the chip given with `--chip`; the port exists
and no other program holds it. esptool's own failures (no answer, another chip) are turned into
messages an installer can act on.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from installer.link import PortError, diagnose_port

ESP_IMAGE_MAGIC = 0xE9
MIN_IMAGE_BYTES = 64 * 1024  # smaller is no MicroPython build
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # the largest flash an ESP32 module carries
# chip -> (address of a merged image, IMAGE_CHIP_ID in the image's extended header)
CHIPS: dict[str, tuple[int, int]] = {
    "esp32": (0x1000, 0),
    "esp32s2": (0x1000, 2),
    "esp32s3": (0x0, 9),
    "esp32c3": (0x0, 5),
    "esp32c6": (0x0, 13),
}


class FlashError(RuntimeError):
    """The image, the port or the board is not right; the message says what to do."""


@dataclass(frozen=True)
class FlashPlan:
    """The esptool runs a flash consists of (erase first, if asked)."""

    commands: list[list[str]]
    image: Path
    address: int
    chip: str


def check_image(image: Path, chip: str) -> None:
    """Raise FlashError unless `image` looks like an app/merged image for `chip`."""
    if chip not in CHIPS:
        raise FlashError(f"--chip {chip} is not supported: choose one of {', '.join(CHIPS)}")
    if not image.is_file():
        raise FlashError(
            f"image {image} not found: download the ESP32_GENERIC .bin from "
            "https://micropython.org/download/ESP32_GENERIC/"
        )
    size = image.stat().st_size
    if size < MIN_IMAGE_BYTES:
        raise FlashError(f"image {image} has only {size} bytes: not a MicroPython firmware image")
    if size > MAX_IMAGE_BYTES:
        raise FlashError(f"image {image} has {size} bytes: larger than any ESP32 flash")
    with image.open("rb") as f:
        head = f.read(24)
    if head[0] != ESP_IMAGE_MAGIC:
        raise FlashError(
            f"image {image} does not start with the ESP image magic byte 0xE9 "
            f"(found 0x{head[0]:02X}): not an ESP32 app or merged image (an .elf, .uf2 "
            "or .hex file will not do)"
        )
    chip_id = int.from_bytes(head[12:14], "little")
    for name, (_, cid) in CHIPS.items():
        if cid == chip_id and name != chip:
            raise FlashError(
                f"image {image} is built for {name}, not {chip}: use the image for the "
                "board's chip, or --chip " + name
            )


def plan(
    port: str,
    image: Path,
    chip: str = "esp32",
    erase: bool = False,
    baud: int = 460800,
    connect_attempts: int | None = None,
) -> FlashPlan:
    """Check the image and build the esptool command lines (nothing touches the port)."""
    check_image(image, chip)
    address = CHIPS[chip][0]
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    if connect_attempts is not None:
        base += ["--connect-attempts", str(connect_attempts)]
    cmds = []
    if erase:
        cmds.append([*base, "erase-flash"])
    cmds.append([*base, "write-flash", "--flash-size", "detect", hex(address), str(image)])
    return FlashPlan(cmds, image, address, chip)


def check_port(port: str) -> None:
    """PortError unless `port` exists and nobody else holds it."""
    msg = diagnose_port(port)
    if msg != f"cannot use serial port {port}":
        raise PortError(msg)


def explain_esptool(output: str, port: str, chip: str) -> str:
    """esptool's failure output → one message for the installer."""
    low = output.lower()
    if "this chip is" in low and "wrong chip argument" in low:
        found = output.lower().split("this chip is", 1)[1].split(",", 1)[0].strip()
        return (
            f"the board on {port} is an {found.upper()}, not {chip}: pass --chip "
            f"{found.replace('-', '')} and an image built for it"
        )
    if "could not open" in low or "no such file" in low:
        return diagnose_port(port)
    if "permission denied" in low:
        return f"no permission to open {port}: add your user to the 'dialout' group and log in again"
    if "failed to connect" in low or "no serial data received" in low:
        return (
            f"no ESP32 bootloader answers on {port}: hold the BOOT button while pressing EN/RESET, "
            "check the USB cable (data, not charge-only) and the --chip"
        )
    lines = [x for x in output.strip().splitlines() if x.strip()]
    return f"esptool failed: {lines[-1] if lines else 'no output'}"


def run(p: FlashPlan, port: str, echo: bool = False, timeout_s: float = 600) -> None:
    """Check the port, then run the plan; FlashError with an explained message on failure."""
    check_port(port)
    for cmd in p.commands:
        proc = subprocess.run(cmd, capture_output=not echo, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise FlashError(explain_esptool((proc.stdout or "") + (proc.stderr or ""), port, p.chip))
