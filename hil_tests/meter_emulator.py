"""Modbus RTU slave that emulates the charger energy meters the firmware supports.

`MeterEmulator` answers read requests (function codes 03/04) for one of CHINT DDSU666, CHINT
DTSU666 or Eastron SDM630 with their real register maps and encodings (IEEE-754 float32, high word
first, the model's raw units), computed from a plant value source. It can inject CRC errors, missing
answers (timeouts), exception responses and a dead meter. It is sans-I/O:
`feed(request_bytes) -> response_bytes | None`. `MeterServer` puts one or more emulators (one RS-485
bus) behind an asyncio TCP server that carries raw RTU bytes, which is what the sim board's UART
connects to.

The register maps here are written from the meters' documentation
(`shared/data/meters/README.md`) independently of the firmware's tables, so that the tests
cross-check the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

EXC_ILLEGAL_FUNCTION = 1
EXC_ILLEGAL_DATA_ADDRESS = 2
EXC_ILLEGAL_DATA_VALUE = 3
EXC_SERVER_DEVICE_FAILURE = 4
EXC_SERVER_DEVICE_BUSY = 6


def crc16(data: bytes | bytearray) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, initial value 0xFFFF), bitwise."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(pdu: bytes | bytearray) -> bytes:
    """The frame `pdu` followed by its CRC, low byte first."""
    return bytes(pdu) + struct.pack("<H", crc16(pdu))


def crc_ok(frame: bytes | bytearray) -> bool:
    """True when the frame's last two bytes are the CRC of the rest."""
    return len(frame) >= 4 and struct.unpack("<H", bytes(frame[-2:]))[0] == crc16(frame[:-2])


def f32_words(value: float, low_word_first: bool = False) -> tuple[int, int]:
    """Two 16-bit registers holding `value` as float32 (high word first unless told otherwise)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return (lo, hi) if low_word_first else (hi, lo)


def f32_round(value: float) -> float:
    """`value` as the float32 a meter register would hold."""
    return struct.unpack(">f", struct.pack(">f", value))[0]


@dataclass
class PlantValues:
    """What the meter measures, in SI units and the charger's view (positive power = import)."""

    energy_import_wh: float = 0.0
    energy_export_wh: float = 0.0
    power_w: float = 0.0
    voltage_v: float | Sequence[float] = 230.0
    current_a: float | Sequence[float] = 0.0
    frequency_hz: float = 50.0

    def phase(self, name: str, i: int) -> float:
        """Per-phase value i (0..2) of `voltage_v` or `current_a` (a scalar means all phases)."""
        v = getattr(self, name)
        return float(v) if isinstance(v, int | float) else float(v[i])


@dataclass(frozen=True)
class ModelMap:
    """How one meter model lays out its registers."""

    name: str
    fcs: frozenset[int]       # function codes it answers for the measurement registers
    phases: int
    # (register, getter of the raw value from PlantValues as the meter sees it)
    floats: tuple[tuple[int, Callable[[PlantValues], float]], ...]


def _ddsu666() -> ModelMap:
    def p(v: PlantValues) -> float:
        return v.power_w / 1000.0  # kW

    def pf(v: PlantValues) -> float:
        return 1.0 if v.power_w >= 0 else -1.0

    return ModelMap("DDSU666", frozenset({3, 4}), 1, (
        (0x2000, lambda v: v.phase("voltage_v", 0)),
        (0x2002, lambda v: v.phase("current_a", 0)),
        (0x2004, p),
        (0x2006, lambda v: 0.0),                      # Q kvar
        (0x2008, lambda v: abs(v.power_w) / 1000.0),  # S kVA
        (0x200A, pf),
        (0x200C, lambda v: 0.0),
        (0x200E, lambda v: v.frequency_hz),
        (0x4000, lambda v: v.energy_import_wh / 1000.0),
        (0x400A, lambda v: v.energy_export_wh / 1000.0),
    ))


def _dtsu666() -> ModelMap:
    sq3 = math.sqrt(3.0)
    regs: list[tuple[int, Callable[[PlantValues], float]]] = []
    for i in range(3):  # line-to-line at 0x2000.. (0.1 V)
        regs.append((0x2000 + 2 * i, lambda v, i=i: v.phase("voltage_v", i) * sq3 * 10.0))
    for i in range(3):  # phase voltage (0.1 V)
        regs.append((0x2006 + 2 * i, lambda v, i=i: v.phase("voltage_v", i) * 10.0))
    for i in range(3):  # current (0.001 A)
        regs.append((0x200C + 2 * i, lambda v, i=i: v.phase("current_a", i) * 1000.0))
    regs.append((0x2012, lambda v: v.power_w * 10.0))  # P total (0.1 W)
    for i in range(3):
        regs.append((0x2014 + 2 * i, lambda v: v.power_w * 10.0 / 3.0))
    for i in range(4):  # Q total + phases (0.1 var)
        regs.append((0x201A + 2 * i, lambda v: 0.0))
    for i in range(4):  # S total + phases (0.1 VA)
        regs.append((0x2022 + 2 * i, lambda v, i=i: abs(v.power_w) * 10.0 / (3.0 if i else 1.0)))
    for i in range(4):  # PF total + phases (0.001)
        regs.append((0x202A + 2 * i, lambda v: 1000.0))
    regs.append((0x2044, lambda v: v.frequency_hz * 100.0))  # 0.01 Hz
    regs.append((0x101E, lambda v: v.energy_import_wh / 1000.0))  # kWh
    for i in range(3):
        regs.append((0x1020 + 2 * i, lambda v: v.energy_import_wh / 3000.0))
    regs.append((0x1028, lambda v: v.energy_export_wh / 1000.0))
    for i in range(3):
        regs.append((0x102A + 2 * i, lambda v: v.energy_export_wh / 3000.0))
    return ModelMap("DTSU666", frozenset({3, 4}), 3, tuple(regs))


def _sdm630() -> ModelMap:
    regs: list[tuple[int, Callable[[PlantValues], float]]] = []
    for i in range(3):
        regs.append((0x0000 + 2 * i, lambda v, i=i: v.phase("voltage_v", i)))
    for i in range(3):
        regs.append((0x0006 + 2 * i, lambda v, i=i: v.phase("current_a", i)))
    for i in range(3):
        regs.append((0x000C + 2 * i, lambda v: v.power_w / 3.0))
    regs.append((0x0034, lambda v: v.power_w))
    regs.append((0x0038, lambda v: abs(v.power_w)))  # VA
    regs.append((0x003C, lambda v: 0.0))             # var
    regs.append((0x003E, lambda v: 1.0))             # PF
    regs.append((0x0046, lambda v: v.frequency_hz))
    regs.append((0x0048, lambda v: v.energy_import_wh / 1000.0))
    regs.append((0x004A, lambda v: v.energy_export_wh / 1000.0))
    regs.append((0x0156, lambda v: (v.energy_import_wh + v.energy_export_wh) / 1000.0))
    return ModelMap("SDM630", frozenset({4}), 3, tuple(regs))


MODEL_MAPS: dict[str, ModelMap] = {m.name: m for m in (_ddsu666(), _dtsu666(), _sdm630())}


class MeterEmulator:
    """One Modbus RTU meter (slave) on a bus, answering from a plant value source.

    Fault injection (checked in this order for each request addressed to it):
    `dead` (never answers), `timeouts_next` / `timeout_probability` (no answer),
    `exceptions_next` with `exception_next_code` / persistent `exception_code` (exception response),
    `crc_errors_next` / `crc_error_probability` (one bit of the reply flipped).
    `reversed_mount` models a meter wired backwards: it measures the opposite power and books
    import as export. `strict` answers IllegalDataAddress for reads that touch undefined registers
    (some meters do; by default undefined registers inside a read are 0).
    """

    def __init__(self, model: str, address: int = 1,
                 source: PlantValues | Callable[[], PlantValues] | None = None, *,
                 reversed_mount: bool = False, strict: bool = False, seed: int | None = 0) -> None:
        self.map = MODEL_MAPS[model]
        self.address = address
        self.source: PlantValues | Callable[[], PlantValues] = source if source is not None else PlantValues()
        self.reversed_mount = reversed_mount
        self.strict = strict
        self.rng = random.Random(seed)
        self.dead = False
        self.timeouts_next = 0
        self.timeout_probability = 0.0
        self.exceptions_next = 0
        self.exception_next_code = EXC_SERVER_DEVICE_BUSY
        self.exception_code: int | None = None
        self.crc_errors_next = 0
        self.crc_error_probability = 0.0
        # counters
        self.requests = 0        # well-formed requests addressed to this meter
        self.answered = 0        # normal replies sent (including corrupted ones)
        self.silent = 0          # requests not answered (dead / injected timeout)
        self.exceptions_sent = 0
        self.corrupted = 0
        self.dropped_bytes = 0   # bytes discarded while looking for a request with a valid CRC
        self._buf = bytearray()

    # values -------------------------------------------------------------------------------
    def values(self) -> PlantValues:
        """The current plant values (from the source)."""
        return self.source() if callable(self.source) else self.source

    def set_values(self, **kw: float | Sequence[float]) -> None:
        """Replace fields of a static PlantValues source."""
        if callable(self.source):
            raise TypeError("the source is a callable")
        for k, v in kw.items():
            if not hasattr(self.source, k):
                raise AttributeError(k)
            setattr(self.source, k, v)

    def _as_measured(self) -> PlantValues:
        v = self.values()
        if not self.reversed_mount:
            return v
        return PlantValues(energy_import_wh=v.energy_export_wh, energy_export_wh=v.energy_import_wh,
                           power_w=-v.power_w, voltage_v=v.voltage_v, current_a=v.current_a,
                           frequency_hz=v.frequency_hz)

    def registers(self) -> dict[int, int]:
        """The meter's register image now: {0-based address: 16-bit word}."""
        v = self._as_measured()
        image: dict[int, int] = {}
        for reg, get in self.map.floats:
            hi, lo = f32_words(get(v))
            image[reg] = hi
            image[reg + 1] = lo
        return image

    # protocol -----------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray) -> bytes | None:
        """Bytes from the bus; returns the reply bytes to put on the bus, or None (silence)."""
        self._buf += data
        out = bytearray()
        while len(self._buf) >= 8:
            frame = bytes(self._buf[:8])
            if not crc_ok(frame):
                del self._buf[0]
                self.dropped_bytes += 1
                continue
            del self._buf[:8]
            reply = self.handle(frame)
            if reply:
                out += reply
        return bytes(out) or None

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one complete 8-byte request frame (CRC already checked)."""
        address, fc = frame[0], frame[1]
        if address != self.address:
            return None
        self.requests += 1
        if self.dead:
            self.silent += 1
            return None
        if self.timeouts_next > 0:
            self.timeouts_next -= 1
            self.silent += 1
            return None
        if self.timeout_probability and self.rng.random() < self.timeout_probability:
            self.silent += 1
            return None
        if self.exceptions_next > 0:
            self.exceptions_next -= 1
            return self._exception(fc, self.exception_next_code)
        if self.exception_code is not None:
            return self._exception(fc, self.exception_code)
        if fc not in (3, 4) or fc not in self.map.fcs:
            return self._exception(fc, EXC_ILLEGAL_FUNCTION)
        start, count = struct.unpack(">HH", frame[2:6])
        if not 1 <= count <= 125:
            return self._exception(fc, EXC_ILLEGAL_DATA_VALUE)
        if start + count > 0x10000:
            return self._exception(fc, EXC_ILLEGAL_DATA_ADDRESS)
        image = self.registers()
        if self.strict and any(r not in image for r in range(start, start + count)):
            return self._exception(fc, EXC_ILLEGAL_DATA_ADDRESS)
        words = [image.get(r, 0) for r in range(start, start + count)]
        reply = bytearray(with_crc(bytes([address, fc, 2 * count]) + struct.pack(f">{count}H", *words)))
        self.answered += 1
        if self.crc_errors_next > 0 or (self.crc_error_probability
                                        and self.rng.random() < self.crc_error_probability):
            if self.crc_errors_next > 0:
                self.crc_errors_next -= 1
            # a bit flip anywhere but the address and function bytes: what line noise does to data
            pos = self.rng.randrange(2, len(reply))
            reply[pos] ^= 1 << self.rng.randrange(8)
            self.corrupted += 1
        return bytes(reply)

    def _exception(self, fc: int, code: int) -> bytes:
        self.exceptions_sent += 1
        return with_crc(bytes([self.address, (fc | 0x80) & 0xFF, code]))


def read_request(address: int, fc: int, start: int, count: int) -> bytes:
    """A read request frame (function code 03 or 04), as a master sends it."""
    return with_crc(struct.pack(">BBHH", address, fc, start, count))


class MeterServer:
    """An RS-485 bus of emulated meters behind a TCP socket carrying raw RTU bytes.

    Each chunk a client sends is offered to every meter on the bus; the one addressed answers
    (after `turnaround_s`, like a real slave's reply delay). Loopback by default, port 0 = free.
    """

    def __init__(self, meters: Iterable[MeterEmulator], host: str = "127.0.0.1", port: int = 0,
                 turnaround_s: float = 0.0) -> None:
        self.meters = list(meters)
        self.host = host
        self.port = port
        self.turnaround_s = turnaround_s
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port."""
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and close connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> MeterServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                data = await reader.read(512)
                if not data:
                    break
                replies = [r for r in (m.feed(data) for m in self.meters) if r]
                if replies:
                    if self.turnaround_s:
                        await asyncio.sleep(self.turnaround_s)
                    for r in replies:
                        writer.write(r)
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
