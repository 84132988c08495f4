"""The Modbus meter emulator, alone and against the firmware's Modbus master in MicroPython.

The end-to-end tests run a MicroPython program using the firmware's `modbus.py` and `meter.py`
through a UART shim backed by a loopback TCP socket to `MeterServer`, and inject CRC noise and a
dead meter from the test side between cycles.
"""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from firmware.tests.mp_bridge import TEST_HEAP, micropython_binary, mp_env
from hil_tests.meter_emulator import (
    EXC_ILLEGAL_DATA_ADDRESS,
    EXC_ILLEGAL_DATA_VALUE,
    EXC_ILLEGAL_FUNCTION,
    EXC_SERVER_DEVICE_BUSY,
    MeterEmulator,
    MeterServer,
    PlantValues,
    crc16,
    crc_ok,
    f32_round,
    read_request,
    with_crc,
)


def _floats(reply: bytes) -> list[float]:
    """The float32 values (high word first) of a read reply."""
    assert crc_ok(reply)
    n = reply[2] // 4
    return list(struct.unpack(f">{n}f", reply[3:3 + 4 * n]))


def _values(**kw: Any) -> PlantValues:
    base: dict[str, Any] = dict(energy_import_wh=1_234_500, energy_export_wh=10_250, power_w=7200.0,
                                voltage_v=[230.1, 229.9, 230.5], current_a=[16.0, 15.5, 16.25],
                                frequency_hz=49.98)
    base.update(kw)
    return PlantValues(**base)


# ---- the emulator alone ---------------------------------------------------------------------


def test_request_crc_of_01_03_0000_000a_is_c5_cd() -> None:
    assert read_request(1, 3, 0, 10).hex() == "01030000000ac5cd"
    assert crc16(b"123456789") == 0x4B37


def test_dtsu666_reports_scaled_floats_high_word_first() -> None:
    emu = MeterEmulator("DTSU666", 5, _values())
    r = emu.feed(read_request(5, 3, 0x2006, 14))
    assert r is not None and r[:3] == bytes([5, 3, 28])
    ua, ub, uc, ia, ib, ic, p = _floats(r)
    assert (ua, ub, uc) == (f32_round(2301.0), f32_round(2299.0), f32_round(2305.0))  # 0.1 V
    assert (ia, ib, ic) == (16000.0, 15500.0, 16250.0)  # 0.001 A
    assert p == 72000.0  # 0.1 W
    (f,) = _floats(emu.feed(read_request(5, 3, 0x2044, 2)) or b"")
    assert f == f32_round(4998.0)  # 0.01 Hz
    imp, _, _, _, _ = _floats(emu.feed(read_request(5, 3, 0x101E, 10)) or b"")
    assert imp == f32_round(1234.5)  # kWh
    (ul,) = _floats(emu.feed(read_request(5, 3, 0x2000, 2)) or b"")
    assert ul == pytest.approx(2301.0 * 3**0.5, rel=1e-6)  # line-to-line at 0x2000


def test_ddsu666_reports_power_in_kw_and_energy_in_kwh() -> None:
    emu = MeterEmulator("DDSU666", 1, _values())
    u, i, p = _floats(emu.feed(read_request(1, 3, 0x2000, 6)) or b"")
    assert (u, i, p) == (f32_round(230.1), 16.0, f32_round(7.2))
    (f,) = _floats(emu.feed(read_request(1, 4, 0x200E, 2)) or b"")  # also answers 04
    assert f == f32_round(49.98)
    imp = _floats(emu.feed(read_request(1, 3, 0x4000, 2)) or b"")[0]
    exp = _floats(emu.feed(read_request(1, 3, 0x400A, 2)) or b"")[0]
    assert (imp, exp) == (1234.5, 10.25)


def test_sdm630_serves_input_registers_only() -> None:
    emu = MeterEmulator("SDM630", 2, _values())
    r = emu.feed(read_request(2, 4, 0x0034, 2))
    assert _floats(r or b"") == [7200.0]
    assert _floats(emu.feed(read_request(2, 4, 0x0048, 4)) or b"") == [1234.5, 10.25]
    assert emu.feed(read_request(2, 3, 0x0034, 2)) == with_crc(bytes([2, 0x83, EXC_ILLEGAL_FUNCTION]))


def test_reversed_mount_shows_negative_power_and_swapped_registers() -> None:
    emu = MeterEmulator("SDM630", 2, _values(), reversed_mount=True)
    assert _floats(emu.feed(read_request(2, 4, 0x0034, 2)) or b"") == [-7200.0]
    assert _floats(emu.feed(read_request(2, 4, 0x0048, 4)) or b"") == [10.25, 1234.5]


def test_values_follow_a_callable_plant_source() -> None:
    state = {"wh": 1000}
    emu = MeterEmulator("SDM630", 1, lambda: _values(energy_import_wh=state["wh"]))
    assert _floats(emu.feed(read_request(1, 4, 0x0048, 2)) or b"") == [1.0]
    state["wh"] = 2500
    assert _floats(emu.feed(read_request(1, 4, 0x0048, 2)) or b"") == [2.5]
    with pytest.raises(TypeError):
        emu.set_values(energy_import_wh=1)


def test_requests_for_other_addresses_or_with_bad_crc_get_no_answer() -> None:
    emu = MeterEmulator("DTSU666", 1, _values())
    assert emu.feed(read_request(2, 3, 0x2000, 2)) is None
    bad = bytearray(read_request(1, 3, 0x2000, 2))
    bad[-1] ^= 0xFF
    assert emu.feed(bytes(bad)) is None
    assert emu.requests == 0 and emu.dropped_bytes > 0


def test_request_split_across_chunks_is_reassembled() -> None:
    emu = MeterEmulator("DTSU666", 1, _values())
    req = read_request(1, 3, 0x2012, 2)
    assert emu.feed(req[:3]) is None
    assert _floats(emu.feed(req[3:]) or b"") == [72000.0]


def test_out_of_range_reads_get_exception_responses() -> None:
    emu = MeterEmulator("DTSU666", 1, _values())
    assert emu.feed(read_request(1, 3, 0x2000, 126)) == with_crc(bytes([1, 0x83, EXC_ILLEGAL_DATA_VALUE]))
    assert emu.feed(read_request(1, 3, 0xFFFF, 2)) == with_crc(bytes([1, 0x83, EXC_ILLEGAL_DATA_ADDRESS]))
    strict = MeterEmulator("DTSU666", 1, _values(), strict=True)
    assert strict.feed(read_request(1, 3, 0x2044, 4)) == with_crc(bytes([1, 0x83, EXC_ILLEGAL_DATA_ADDRESS]))
    assert _floats(strict.feed(read_request(1, 3, 0x2044, 2)) or b"") == [f32_round(4998.0)]
    loose = MeterEmulator("DTSU666", 1, _values())
    assert loose.feed(read_request(1, 3, 0x2046, 2)) == with_crc(bytes([1, 3, 4, 0, 0, 0, 0]))


def test_injected_crc_errors_next_n_and_by_probability() -> None:
    emu = MeterEmulator("SDM630", 1, _values(), seed=7)
    emu.crc_errors_next = 2
    req = read_request(1, 4, 0, 76)
    assert not crc_ok(emu.feed(req) or b"")
    assert not crc_ok(emu.feed(req) or b"")
    assert crc_ok(emu.feed(req) or b"")
    emu.crc_error_probability = 0.5
    bad = sum(not crc_ok(emu.feed(req) or b"") for _ in range(400))
    assert 150 < bad < 250 and emu.corrupted == bad + 2


def test_injected_timeouts_exceptions_and_dead_meter() -> None:
    emu = MeterEmulator("DDSU666", 1, _values())
    req = read_request(1, 3, 0x2000, 2)
    emu.timeouts_next = 1
    assert emu.feed(req) is None
    emu.exceptions_next = 1
    assert emu.feed(req) == with_crc(bytes([1, 0x83, EXC_SERVER_DEVICE_BUSY]))
    assert crc_ok(emu.feed(req) or b"")
    emu.exception_code = 4
    assert emu.feed(req) == with_crc(bytes([1, 0x83, 4]))
    emu.exception_code = None
    emu.dead = True
    assert emu.feed(req) is None and emu.silent == 2
    emu.dead = False
    assert crc_ok(emu.feed(req) or b"")


async def test_tcp_server_carries_raw_rtu_frames_for_a_bus_of_meters() -> None:
    a = MeterEmulator("DTSU666", 1, _values())
    b = MeterEmulator("SDM630", 2, _values(power_w=-3000.0))
    async with MeterServer([a, b]) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(read_request(2, 4, 0x0034, 2))
        await writer.drain()
        r = await asyncio.wait_for(reader.readexactly(9), 2)
        assert _floats(r) == [-3000.0]
        writer.write(read_request(1, 3, 0x2012, 2))
        await writer.drain()
        assert _floats(await asyncio.wait_for(reader.readexactly(9), 2)) == [72000.0]
        writer.close()
    assert a.requests == 1 and b.requests == 1


# ---- the firmware's master against the emulator over loopback TCP -------------------------------

MP_PROGRAM = r"""
# MicroPython: the firmware's Modbus master and meter over a socket-backed UART shim.
import sys
import json
import socket
import asyncio
import modbus
import meter


class SockUart:
    # UART-like object over TCP to a MeterServer: write(b), any(), read(n).
    def __init__(self, host, port):
        self.s = socket.socket()
        self.s.connect(socket.getaddrinfo(host, port)[0][-1])
        self.s.setblocking(False)
        self.pending = b""

    def write(self, b):
        self.s.setblocking(True)
        self.s.send(bytes(b))
        self.s.setblocking(False)
        return len(b)

    def any(self):
        try:
            data = self.s.recv(256)
        except OSError:
            data = None
        if data:
            self.pending += data
        return len(self.pending)

    def read(self, n):
        out = self.pending[:n]
        self.pending = self.pending[n:]
        return out


def main():
    cfg = json.loads(sys.argv[1])
    bus = modbus.Bus(SockUart("127.0.0.1", cfg["port"]), baud=cfg["baud"],
                     timeout_ms=cfg["timeout_ms"], retries=cfg["retries"])
    meters = [meter.Meter(m["model"], m["address"], m.get("invert", False),
                          max_power_w=cfg["max_power_w"], dead_after=cfg["dead_after"])
              for m in cfg["meters"]]
    t = [0]

    async def cycle():
        out = []
        for m in meters:
            ok = await m.read(bus)
            s = m.snapshot()
            s["accepted"] = ok
            out.append(s)
        return out

    print("READY")
    while True:
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            break
        snaps = asyncio.run(cycle())
        print(json.dumps({"meters": snaps, "bus": bus.master.counters()}))


main()
"""


class MpMaster:
    """The MicroPython program above, driven one cycle at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, tmp: Path, cfg: dict[str, Any]) -> MpMaster:
        prog = tmp / "meter_e2e.py"
        prog.write_text(MP_PROGRAM)
        proc = await asyncio.create_subprocess_exec(
            micropython_binary(), "-X", f"heapsize={TEST_HEAP}", str(prog), json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=mp_env(), cwd=tmp)
        self = cls(proc)
        assert (await self._line()) == "READY"
        return self

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        if not line:
            err = await self.proc.stderr.read() if self.proc.stderr else b""
            raise RuntimeError(f"MicroPython program ended: {err.decode()[-2000:]}")
        return line.decode().strip()

    async def cycle(self) -> dict[str, Any]:
        """Run one read cycle of every meter; returns their snapshots and the bus counters."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        return json.loads(await self._line())

    async def close(self) -> None:
        """Ask the program to end, kill it if it does not."""
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _cfg(port: int, meters: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    cfg = dict(port=port, baud=115200, timeout_ms=150, retries=3, max_power_w=22_000, dead_after=3,
               meters=meters)
    cfg.update(kw)
    return cfg


def _wh(e_wh: float) -> int:
    """What a kWh float32 register becomes in whole Wh."""
    return int(f32_round(e_wh / 1000.0) * 1000 + 0.5)


async def test_master_reads_all_three_models_over_loopback_with_invert(tmp_path: Path) -> None:
    plant = _values(power_w=7200.0)
    meters = [MeterEmulator("DDSU666", 1, plant), MeterEmulator("DTSU666", 2, plant),
              MeterEmulator("SDM630", 3, plant, reversed_mount=True)]
    async with MeterServer(meters) as srv:
        mp = await MpMaster.start(tmp_path, _cfg(srv.port, [
            {"model": 0, "address": 1}, {"model": 1, "address": 2},
            {"model": 2, "address": 3, "invert": True}]))
        try:
            out = await mp.cycle()
        finally:
            await mp.close()
    for snap in out["meters"]:
        assert snap["accepted"] and snap["status"] == "ok"
        assert snap["energy_import_wh"] == 1_234_500 and snap["energy_export_wh"] == 10_250
        assert snap["power_w"] == 7200
        assert snap["frequency_hz"] == pytest.approx(49.98, abs=1e-4)
    assert out["meters"][0]["voltage_v"] == [pytest.approx(230.1, abs=1e-4)]
    assert out["meters"][1]["current_a"] == [16.0, 15.5, 16.25]
    assert out["meters"][2]["voltage_v"] == pytest.approx([230.1, 229.9, 230.5], abs=1e-4)
    assert out["bus"]["ok"] == 5 and out["bus"]["crc_errors"] == 0


async def test_crc_noise_is_retried_and_billing_register_stays_exact(tmp_path: Path) -> None:
    plant = _values(energy_import_wh=5_000_000, power_w=11_000.0)
    emu = MeterEmulator("DTSU666", 1, plant, seed=3)
    emu.crc_error_probability = 0.25
    async with MeterServer([emu]) as srv:
        mp = await MpMaster.start(tmp_path, _cfg(srv.port, [{"model": 1, "address": 1}]))
        try:
            seen = []
            for k in range(25):
                emu.set_values(energy_import_wh=5_000_000 + 3 * k)
                out = await mp.cycle()
                snap = out["meters"][0]
                if snap["accepted"]:
                    assert snap["energy_import_wh"] == _wh(5_000_000 + 3 * k)
                    seen.append(k)
                assert not snap["dead"]
                assert snap["energy_import_wh"] >= (seen and _wh(5_000_000 + 3 * seen[-1]) or 0)
            emu.crc_error_probability = 0.0
            out = await mp.cycle()
        finally:
            await mp.close()
    snap = out["meters"][0]
    assert snap["accepted"] and snap["energy_import_wh"] == _wh(5_000_000 + 3 * 24)
    bus = out["bus"]
    assert bus["crc_errors"] == emu.corrupted - bus["frame_errors"] > 0
    assert bus["retries"] >= bus["crc_errors"] and len(seen) >= 20


async def test_dead_meter_is_reported_with_reason_and_last_good_values_kept(tmp_path: Path) -> None:
    plant = _values(energy_import_wh=2_000_000, power_w=7000.0)
    dead = MeterEmulator("DDSU666", 1, plant)
    other = MeterEmulator("SDM630", 2, _values())
    async with MeterServer([dead, other]) as srv:
        mp = await MpMaster.start(tmp_path, _cfg(srv.port, [{"model": 0, "address": 1},
                                                            {"model": 2, "address": 2}], retries=1))
        try:
            first = (await mp.cycle())["meters"][0]
            assert first["accepted"] and first["energy_import_wh"] == 2_000_000
            dead.dead = True
            dead.set_values(energy_import_wh=2_000_010)  # charging went on: not visible any more
            states = []
            for _ in range(3):
                out = await mp.cycle()
                states.append(out["meters"][0]["status"])
                assert out["meters"][1]["accepted"], "the other meter on the bus keeps working"
            snap = out["meters"][0]
            assert states == ["suspect", "suspect", "dead"]
            assert snap["dead"] and not snap["healthy"] and snap["reason"] == "timeout"
            assert snap["energy_import_wh"] == 2_000_000 and snap["power_w"] == 7000
            assert out["bus"]["timeouts"] == 6  # 3 cycles x (1 try + 1 retry)
            dead.dead = False
            back = (await mp.cycle())["meters"][0]
        finally:
            await mp.close()
    assert back["accepted"] and back["status"] == "ok" and back["energy_import_wh"] == _wh(2_000_010)


async def test_meter_answering_with_exceptions_goes_dead_with_the_exception_name(tmp_path: Path) -> None:
    emu = MeterEmulator("SDM630", 4, _values())
    async with MeterServer([emu]) as srv:
        mp = await MpMaster.start(tmp_path, _cfg(srv.port, [{"model": 2, "address": 4}], dead_after=2))
        try:
            assert (await mp.cycle())["meters"][0]["accepted"]
            emu.exception_code = 4
            await mp.cycle()
            out = await mp.cycle()
        finally:
            await mp.close()
    snap = out["meters"][0]
    assert snap["dead"] and snap["reason"] == "ServerDeviceFailure"
    assert out["bus"]["exceptions"] == 2 and out["bus"]["retries"] == 0
