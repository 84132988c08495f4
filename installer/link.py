"""The serial link to a board's REPL, through mpremote's own transport (no re-implementation).

`BoardLink` opens the port with mpremote's `SerialTransport` (exclusive, as the `mpremote` command
does), enters the raw REPL with a soft reset (which also stops the firmware running from main.py),
and offers `exec`, file writes with progress and the SHA-256 of every file under a folder, computed
on the board. Port problems come back as `PortError` with a message an installer can act on.

Board-side code here is MicroPython; paths on the board are relative to its working directory
(the flash root on an ESP32, the flash folder of a `PtyBoard`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from typing import Any

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport


class BoardError(RuntimeError):
    """The board answered with an error, or the link broke."""


class PortError(BoardError):
    """The serial port cannot be used: missing, busy, or not permitted."""


def diagnose_port(port: str) -> str:
    """Why `port` cannot be opened, in the installer's words (checked in this order)."""
    if not os.path.exists(port):
        return (
            f"serial port {port} does not exist: is the board plugged in and powered? "
            "(boards show up as /dev/ttyUSB* or /dev/ttyACM*)"
        )
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        return f"no permission to open {port}: add your user to the 'dialout' group and log in again"
    except OSError as error:
        if error.errno == errno.EBUSY:
            return f"serial port {port} is busy: another program has it open exclusively; close it"
        return f"cannot open serial port {port}: {error.strerror}"
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return (
                f"serial port {port} is busy: another program (mpremote, esptool, screen, a serial "
                "monitor) holds it; close it and try again"
            )
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return f"cannot use serial port {port}"


# The SHA-256 of every file under a folder, computed on the board (the unix port and the ESP32
# port both have hashlib.sha256 and binascii). Prints one JSON object {relative path: hex}.
_HASH_TREE = """
import os, hashlib, binascii, json
def _h(p, b=bytearray(512)):
    h = hashlib.sha256()
    mv = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(mv[:n])
    return binascii.hexlify(h.digest()).decode()
def _walk(d, pre, out):
    for e in os.ilistdir(d):
        if e[1] & 0x4000:
            _walk(d + '/' + e[0], pre + e[0] + '/', out)
        else:
            out[pre + e[0]] = _h(d + '/' + e[0])
    return out
def _tree(d):
    try:
        os.stat(d)
    except OSError:
        return None
    return _walk(d, '', {})
print(json.dumps(_tree(%r)))
del _h, _walk, _tree
"""


class BoardLink:
    """A raw-REPL session with a board on a serial port (use as a context manager)."""

    def __init__(self, port: str, soft_reset: bool = True, timeout_s: float = 10) -> None:
        self.port = port
        self.soft_reset = soft_reset
        self.timeout_s = timeout_s
        self._t: SerialTransport | None = None

    def __enter__(self) -> BoardLink:
        if not os.path.exists(self.port):
            raise PortError(diagnose_port(self.port))
        try:
            # A read timeout, or mpremote blocks for good on a pty that stays silent (a board
            # without power). Generous: mpremote reads the raw-paste answer with one read(2), and
            # a busy host or a slow board may take seconds to send it.
            self._t = SerialTransport(self.port, baudrate=115200, timeout=10)
        except TransportError:
            raise PortError(diagnose_port(self.port)) from None
        # Two tries: a board interrupted while it boots may crash and reset under the first Ctrl-C
        # (seen with the firmware in the middle of loading a module) and answer the second.
        for attempt in (1, 2):
            try:
                self._t.enter_raw_repl(soft_reset=self.soft_reset, timeout_overall=self.timeout_s)
                return self
            except TransportError as error:
                if attempt == 2:
                    self.close()
                    raise BoardError(
                        f"no MicroPython REPL answers on {self.port} ({error}): is MicroPython "
                        "flashed (frostgrid device flash)?"
                    ) from None
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the raw REPL and release the port."""
        t, self._t = self._t, None
        if t is None:
            return
        with contextlib.suppress(Exception):
            if t.in_raw_repl:
                t.exit_raw_repl()
        with contextlib.suppress(Exception):
            t.close()

    @property
    def transport(self) -> SerialTransport:
        """The mpremote transport (open)."""
        if self._t is None:
            raise BoardError("the link is closed")
        return self._t

    def exec(
        self, code: str, timeout_s: float | None = None, on_output: Callable[[bytes], None] | None = None
    ) -> str:
        """Run `code` on the board; return what it printed. A board-side exception → BoardError.

        `timeout_s` bounds the silence between two bytes of output (not the whole run); `on_output`
        sees the output as it comes."""
        try:
            if timeout_s is None and on_output is None:
                out = self.transport.exec(code)
            else:
                out = self._exec_timeout(code, timeout_s or 10, on_output)
        except TransportExecError as error:
            lines = error.error_output.strip().splitlines()
            raise BoardError(f"on the board: {lines[-1] if lines else 'error'}") from None
        except (TransportError, OSError) as error:
            raise BoardError(f"the link to {self.port} broke: {error}") from None
        return out.decode(errors="replace")

    def _exec_timeout(
        self, code: str, timeout_s: float, on_output: Callable[[bytes], None] | None = None
    ) -> bytes:
        t = self.transport
        t.exec_raw_no_follow(code)
        if on_output is None:
            out, err = t.follow(timeout_s)
        else:
            chunks: list[bytes] = []

            def consume(b: bytes) -> None:
                if b == b"\x04":  # the end-of-output marker reaches the consumer too
                    return
                chunks.append(b)
                on_output(b)

            _, err = t.follow(timeout_s, data_consumer=consume)
            out = b"".join(chunks)
        if err:
            raise TransportExecError(out, err.decode(errors="replace"))
        return out

    def eval_json(self, code: str, timeout_s: float | None = None) -> Any:
        """Run `code` that prints one JSON value as its last line; return the value."""
        out = self.exec(code, timeout_s).strip().splitlines()
        if not out:
            raise BoardError("the board printed nothing")
        return json.loads(out[-1])

    def write_file(self, path: str, data: bytes, progress: Callable[[int], None] | None = None) -> None:
        """Write `data` to `path` on the board (mpremote's chunked write)."""
        done = 0

        def step(written: int, _total: int) -> None:
            nonlocal done
            if progress is not None:
                progress(written - done)
            done = written

        try:
            self.transport.fs_writefile(path, data, chunk_size=512, progress_callback=step)
        except (TransportError, OSError) as error:
            raise BoardError(f"writing {path} on the board failed: {error}") from None

    def read_file(self, path: str) -> bytes | None:
        """The bytes of `path` on the board, or None when there is no such file."""
        try:
            if not self.transport.fs_exists(path):
                return None
            return bytes(self.transport.fs_readfile(path, chunk_size=512))
        except (TransportError, OSError) as error:
            raise BoardError(f"reading {path} on the board failed: {error}") from None

    def hash_tree(self, folder: str) -> dict[str, str] | None:
        """{path relative to `folder`: SHA-256 hex} for every file under it; None if it is absent."""
        result = self.eval_json(_HASH_TREE % folder, timeout_s=120)
        return None if result is None else {str(k): str(v) for k, v in result.items()}

    def sha256(self, path: str) -> str | None:
        """SHA-256 hex of one file on the board, or None if it does not exist."""
        code = _HASH_TREE.split("def _walk")[0] + (
            f"try:\n print(json.dumps(_h({path!r})))\nexcept OSError:\n print('null')\ndel _h\n"
        )
        result = self.eval_json(code, timeout_s=60)
        return None if result is None else str(result)
