"""A MicroPython board on a pseudo-terminal: the unix port acting as a board's serial REPL.

`PtyBoard` runs the real MicroPython unix port (`micropython`) with its stdin/stdout/stderr on a
pseudo-terminal and its working directory in a folder that plays the board's flash root. A second
pseudo-terminal is the "USB serial port" the host sees (`board.port`, a `/dev/pts/N` path, or a
symlink to it); a relay thread copies bytes between the two, as a USB-serial bridge would. The real
`mpremote` (and `frostgrid device ...`) open `board.port` like any serial port.

What the unix port does natively, as a board does: the friendly REPL, raw REPL (Ctrl-A),
raw-paste mode (Ctrl-A then Ctrl-E / `R\\x01`), Ctrl-C interrupting a running program (the board's
terminal is its controlling tty with ISIG on, so the byte becomes SIGINT → KeyboardInterrupt),
`os`, `hashlib.sha256`, `binascii`, files and directories under the flash root.

What this module adds because the unix port lacks it (docs/installing.md lists the differences):
- power-on runs `main.py` from the flash root when there is one (`micropython -i main.py`: the
  REPL follows when it ends or is interrupted), as a board runs `main.py` at boot;
- a soft reset (Ctrl-D in the raw REPL) ends the unix-port process; the relay starts a fresh one
  and answers `soft reboot` + the raw REPL banner, as a board's soft reset does;
- any other exit of the process (a firmware reset: `sys.exit(3)` on the sim board) is taken as
  a hard reset: the board boots again and runs `main.py`;
- `power_off()` / `power_on()` cut and restore power (SIGKILL of the process), for tests of
  interrupted writes. The serial port stays, as a USB-serial adapter outlives the board.

Paths on the board are relative to the flash root: the installer never uses absolute paths, so
the same commands work on an ESP32 (cwd `/`) and here (cwd = the flash folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import threading
import time
import tty
from pathlib import Path

from hil_tests.dut import micropython_binary

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
_LOG_LIMIT = 1 << 20  # bytes of board output kept for tests (the newest)
_RESTART_PAUSE_S = 0.5  # between a crash-loop's reboots, as a real board's reset takes time


def _board_tty_mode(fd: int) -> None:
    # Raw bytes both ways (a board's USB-CDC port does no newline translation: mpremote waits for
    # exact "\r\n" endings), but ISIG on so that a Ctrl-C byte interrupts a running program.
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] |= termios.ISIG
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _controlling_tty() -> None:
    # In the child before exec: a new session whose controlling terminal is stdin (the pty), so
    # that the line discipline sends SIGINT for Ctrl-C to it.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyBoard:
    """The unix port on a pseudo-terminal; `port` is the serial device to give to mpremote."""

    def __init__(
        self,
        flash_dir: Path | str,
        heap: str = "256k",
        link: Path | str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.flash_dir = Path(flash_dir).resolve()
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.heap = heap
        self.extra_env = dict(env or {})
        self._lock = threading.RLock()
        self._log = bytearray()  # everything the board wrote to its serial port
        self._log_cond = threading.Condition(self._lock)
        self.boots = 0  # processes started (power-ons, resets and soft resets)
        self._proc: subprocess.Popen[bytes] | None = None
        self._bm: int | None = None  # master side of the board's own pty
        self._powered = False
        self._last_ctrl = b""  # last control byte the host sent (Ctrl-D before an exit = soft reset)
        self._swallow = False  # after a soft reset: drop output until the raw REPL banner
        self._swallowed = bytearray()
        # the host side: master stays with the relay; the slave's path is the "serial port". Our
        # own slave fd stays open so that the master never reads EIO between two clients.
        self._cm, self._cs = pty.openpty()
        tty.setraw(self._cs)
        os.set_blocking(self._cm, False)
        self.port = os.ttyname(self._cs)
        self.link = Path(link) if link else None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.port)
            self.port = str(self.link)
        self._stop = False
        self._thread = threading.Thread(target=self._relay, name="ptyboard", daemon=True)
        self._thread.start()

    # --- power ----------------------------------------------------------------------------------
    def power_on(self, run_main: bool = True, wait_s: float = 10) -> PtyBoard:
        """Start the board: run `main.py` when the flash root has one (and `run_main`), else the REPL.

        Waits (up to `wait_s`) for its first output: a Ctrl-C that reaches the process before
        MicroPython has set up its handler would kill it, as bytes sent into a booting board are
        lost."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise RuntimeError("the board is already powered")
            self._powered = True
            since = len(self._log)
            self._spawn(run_main)
        deadline = time.monotonic() + wait_s
        with self._log_cond:
            while len(self._log) == since and time.monotonic() < deadline:
                self._log_cond.wait(0.05)
        return self

    def power_off(self) -> None:
        """Cut the power: SIGKILL the MicroPython process at whatever it is doing."""
        with self._lock:
            self._powered = False
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the relay closes the board's pty when it sees the end
            with self._lock:
                if self._bm is None:
                    break
            time.sleep(0.02)

    def power_cycle(self, run_main: bool = True) -> PtyBoard:
        """Power off, then on (a hard reset by the supply)."""
        self.power_off()
        return self.power_on(run_main)

    @property
    def running(self) -> bool:
        """True while the MicroPython process is alive."""
        p = self._proc
        return p is not None and p.poll() is None

    def _spawn(self, run_main: bool) -> None:
        bm, bs = pty.openpty()
        _board_tty_mode(bs)
        cmd = [micropython_binary(), "-X", f"heapsize={self.heap}"]
        if run_main and (self.flash_dir / "main.py").exists():
            cmd += ["-i", "main.py"]
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)  # the board's own sys.path: '', .frozen, ~/.micropython/lib
        env.update(self.extra_env)
        self._proc = subprocess.Popen(
            cmd,
            stdin=bs,
            stdout=bs,
            stderr=bs,
            cwd=self.flash_dir,
            env=env,
            preexec_fn=_controlling_tty,
            close_fds=True,
        )
        os.close(bs)
        self._bm = bm
        self.boots += 1

    # --- relay ----------------------------------------------------------------------------------
    def _relay(self) -> None:
        while not self._stop:
            with self._lock:
                bm = self._bm
            fds = [self._cm] + ([bm] if bm is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                continue
            if self._cm in ready:
                self._from_host()
            if bm is not None and bm in ready:
                self._from_board(bm)

    def _from_host(self) -> None:
        try:
            data = os.read(self._cm, 4096)
        except (BlockingIOError, OSError):
            return
        ctrl = [c for c in data if c in (0x01, 0x02, 0x03, 0x04)]
        if ctrl:
            self._last_ctrl = bytes([ctrl[-1]])
        with self._lock:
            bm = self._bm if self.running else None
        if bm is None:
            return  # no power: bytes on the wire are lost
        view = memoryview(data)
        with contextlib.suppress(OSError):
            while view:  # a pty write may take only part when the board's input queue is full
                view = view[os.write(bm, view) :]

    def _from_board(self, bm: int) -> None:
        try:
            data = os.read(bm, 4096)
        except OSError:  # EIO: the process has gone
            self._board_ended(bm)
            return
        if not data:
            self._board_ended(bm)
            return
        if self._swallow:
            self._swallowed += data
            i = self._swallowed.find(RAW_BANNER)
            if i < 0:
                return
            data = bytes(self._swallowed[i:])
            self._swallow = False
            self._swallowed.clear()
        self._to_host(data)

    def _to_host(self, data: bytes) -> None:
        with self._log_cond:
            self._log += data
            if len(self._log) > _LOG_LIMIT:
                del self._log[: len(self._log) - _LOG_LIMIT]
            self._log_cond.notify_all()
        # nobody reading the port: a UART's bytes are lost, they do not stall the board
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._cm, data)

    def _board_ended(self, bm: int) -> None:
        with self._lock:
            proc = self._proc
            with contextlib.suppress(OSError):
                os.close(bm)
            self._bm = None
            if proc is None:
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if not self._powered:
                return
            if proc.returncode == 0 and self._last_ctrl == b"\x04":
                # a soft reset from the raw REPL: a board restarts its interpreter and comes back
                # in the raw REPL without running main.py
                self._to_host(b"soft reboot\r\n")
                self._swallow = True
                self._spawn(run_main=False)
                assert self._bm is not None
                with contextlib.suppress(OSError):
                    os.write(self._bm, b"\r\x01")
                return
            time.sleep(_RESTART_PAUSE_S)
            self._spawn(run_main=True)  # a reset (or a crash): the board boots again

    # --- output for tests ------------------------------------------------------------------------
    @property
    def output(self) -> bytes:
        """Everything the board wrote to its serial port (the newest MiB)."""
        with self._lock:
            return bytes(self._log)

    def mark(self) -> int:
        """Position in `output`, for `wait_for(since=...)`."""
        with self._lock:
            return len(self._log)

    def wait_for(self, text: bytes | str, timeout: float = 15, since: int = 0) -> int:
        """Wait until the board's output from `since` on contains `text`; return where it ends."""
        needle = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                i = self._log.find(needle, since)
                if i >= 0:
                    return i + len(needle)
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = bytes(self._log[-2000:]).decode(errors="replace")
                    raise TimeoutError(f"board output has no {needle!r} within {timeout}s; tail:\n{tail}")
                self._log_cond.wait(min(left, 0.2))

    def close(self) -> None:
        """Power off for good and release both pseudo-terminals."""
        self.power_off()
        self._stop = True
        self._thread.join(2)
        for fd in (self._cm, self._cs):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def __enter__(self) -> PtyBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
