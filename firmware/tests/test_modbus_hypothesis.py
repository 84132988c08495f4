"""Property tests: the MicroPython Modbus master and meter decode what the CPython emulator encodes.

Cases are generated here and run inside MicroPython (`firmware/tests/mp/cases_modbus.py`) through
one long-lived `MicroPythonWorker`. The emulator (`hil_tests/meter_emulator.py`) holds register maps
written independently of the firmware's tables, so agreement is a real cross-check.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MicroPythonWorker
from hil_tests.meter_emulator import MeterEmulator, PlantValues, crc16, f32_round, with_crc

MODEL_IDS = {"DDSU666": 0, "DTSU666": 1, "SDM630": 2}
# raw register = SI value * mul (what the emulator writes); the firmware divides it back
RAW_PER_SI = {
    "DDSU666": {"e": 1e-3, "p": 1e-3, "i": 1.0, "u": 1.0, "f": 1.0},
    "DTSU666": {"e": 1e-3, "p": 10.0, "i": 1000.0, "u": 10.0, "f": 100.0},
    "SDM630": {"e": 1e-3, "p": 1.0, "i": 1.0, "u": 1.0, "f": 1.0},
}
PHASES = {"DDSU666": 1, "DTSU666": 3, "SDM630": 3}

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def mp() -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter for the whole module."""
    w = MicroPythonWorker()
    yield w
    w.close()


def _half_away(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def _si(model: str, q: str, value: float) -> float:
    """What the firmware should make of `value` after the meter stored it as float32."""
    k = RAW_PER_SI[model][q]
    if q == "e":
        return float(_half_away(f32_round(value / 1000.0) * 1000))
    if k == 1.0:
        return f32_round(value)
    if k < 1.0:  # stored in kilo-units: the firmware multiplies back
        return f32_round(value / 1000.0) * 1000
    return f32_round(value * k) / k


def _expected(model: str, v: PlantValues) -> dict[str, object]:
    ph = PHASES[model]
    return {
        "energy_import_wh": int(_si(model, "e", v.energy_import_wh)),
        "energy_export_wh": int(_si(model, "e", v.energy_export_wh)),
        "power_w": _half_away(_si(model, "p", v.power_w)),
        "voltage_v": [_si(model, "u", v.phase("voltage_v", i)) for i in range(ph)],
        "current_a": [_si(model, "i", v.phase("current_a", i)) for i in range(ph)],
        "frequency_hz": _si(model, "f", v.frequency_hz),
    }


def _replies(emu: MeterEmulator, requests: list[str]) -> list[str | None]:
    out = []
    for r in requests:
        resp = emu.feed(bytes.fromhex(r))
        out.append(resp.hex() if resp else None)
    return out


plant_values = st.builds(
    PlantValues,
    energy_import_wh=st.integers(0, 10_000_000),
    energy_export_wh=st.integers(0, 10_000_000),
    power_w=st.floats(-60_000, 60_000, allow_nan=False),
    voltage_v=st.lists(st.floats(0, 300, allow_nan=False), min_size=3, max_size=3),
    current_a=st.lists(st.floats(0, 80, allow_nan=False), min_size=3, max_size=3),
    frequency_hz=st.floats(45, 65, allow_nan=False),
)


@SETTINGS
@given(data=st.binary(min_size=1, max_size=260))
def test_crc_agrees_with_the_cpython_reference(mp: MicroPythonWorker, data: bytes) -> None:
    assert mp.call("cases_modbus", "crc", data.hex()) == crc16(data)


@SETTINGS
@given(model=st.sampled_from(sorted(MODEL_IDS)), address=st.integers(1, 247), invert=st.booleans(),
       values=plant_values)
def test_meter_decodes_what_the_emulator_encodes(mp: MicroPythonWorker, model: str, address: int,
                                                 invert: bool, values: PlantValues) -> None:
    emu = MeterEmulator(model, address, values, reversed_mount=invert)
    requests = mp.call("cases_modbus", "plan", MODEL_IDS[model], address)
    got = mp.call("cases_modbus", "decode", MODEL_IDS[model], address, invert, _replies(emu, requests))
    assert got["accepted"] and got["healthy"]
    want = _expected(model, values)
    assert got["energy_import_wh"] == want["energy_import_wh"]
    assert got["energy_export_wh"] == want["energy_export_wh"]
    assert got["power_w"] == want["power_w"]
    for key in ("voltage_v", "current_a"):
        assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12)
    assert got["frequency_hz"] == pytest.approx(want["frequency_hz"], rel=1e-12)
    # and the reading is the plant's truth within the float32 resolution of the registers
    assert abs(got["energy_import_wh"] - values.energy_import_wh) <= values.energy_import_wh * 2**-23 + 1
    assert abs(got["power_w"] - values.power_w) <= abs(values.power_w) * 2**-22 + 1


@SETTINGS
@given(address=st.integers(1, 247), fc=st.sampled_from([3, 4]),
       words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125))
def test_register_words_come_back_unchanged(mp: MicroPythonWorker, address: int, fc: int,
                                            words: list[int]) -> None:
    frame = with_crc(bytes([address, fc, 2 * len(words)]) + struct.pack(f">{len(words)}H", *words))
    got = mp.call("cases_modbus", "parse", address, fc, 0, len(words), frame.hex())
    assert got["done"] and got["words"] == words


@SETTINGS
@given(bits=st.integers(0, 0xFFFFFFFF), swap=st.booleans())
def test_float32_images_in_both_word_orders(mp: MicroPythonWorker, bits: int, swap: bool) -> None:
    value = struct.unpack(">f", struct.pack(">I", bits))[0]
    if not math.isfinite(value):
        return
    image = struct.pack(">I", bits)
    if swap:
        image = image[2:] + image[:2]
    got = struct.unpack(">d", bytes.fromhex(mp.call("cases_modbus", "f32", image.hex(), swap)))[0]
    assert got == value and math.copysign(1.0, got) == math.copysign(1.0, value)


def _frame(address: int, fc: int, words: list[int]) -> bytes:
    return with_crc(bytes([address, fc, 2 * len(words)]) + struct.pack(f">{len(words)}H", *words))


@SETTINGS
@given(address=st.integers(1, 247), fc=st.sampled_from([3, 4]),
       words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40), data=st.data())
def test_any_burst_of_up_to_16_bits_is_never_accepted(mp: MicroPythonWorker, address: int, fc: int,
                                                      words: list[int], data: st.DataObject) -> None:
    frame = bytearray(_frame(address, fc, words))
    nbits = len(frame) * 8
    length = data.draw(st.integers(1, 16), label="burst length")
    start = data.draw(st.integers(0, nbits - length), label="first bit")
    # a burst error: first and last bit of the span flipped, anything in between
    inner = data.draw(st.integers(0, (1 << max(length - 2, 0)) - 1), label="inner bits")
    pattern = 1 | (inner << 1) | (1 << (length - 1)) if length > 1 else 1
    for k in range(length):
        if pattern >> k & 1:
            bit = start + k
            frame[bit // 8] ^= 0x80 >> (bit % 8)
    got = mp.call("cases_modbus", "parse", address, fc, 0, len(words), bytes(frame).hex())
    assert not got["done"], got


@SETTINGS
@given(address=st.integers(1, 247), words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40),
       flips=st.lists(st.integers(0, 10_000), min_size=1, max_size=9, unique=True))
def test_any_odd_number_of_flipped_bits_is_never_accepted(mp: MicroPythonWorker, address: int,
                                                          words: list[int], flips: list[int]) -> None:
    frame = bytearray(_frame(address, 3, words))
    flips = sorted({f % (len(frame) * 8) for f in flips})
    if len(flips) % 2 == 0:
        flips = flips[:-1]
    for bit in flips:
        frame[bit // 8] ^= 0x80 >> (bit % 8)
    got = mp.call("cases_modbus", "parse", address, 3, 0, len(words), bytes(frame).hex())
    assert not got["done"], got


@SETTINGS
@given(address=st.integers(1, 247), words=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=40),
       cut=st.integers(1, 200), tail=st.binary(min_size=1, max_size=8))
def test_cut_replies_fail_and_trailing_noise_does_not_change_values(
        mp: MicroPythonWorker, address: int, words: list[int], cut: int, tail: bytes) -> None:
    frame = _frame(address, 4, words)
    short = frame[: max(0, len(frame) - cut)]
    got = mp.call("cases_modbus", "parse", address, 4, 0, len(words), short.hex())
    assert not got["done"]
    got = mp.call("cases_modbus", "parse", address, 4, 0, len(words), (frame + tail).hex())
    assert got["done"] and got["words"] == words


STEP_KINDS = ["good", "good", "good", "silent", "crc", "exception", "decrease", "jump"]
MAX_POWER_W = 22_000
MARGIN_WH = 20
DEAD_AFTER = 3


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(sorted(MODEL_IDS)), invert=st.booleans(),
       steps=st.lists(st.tuples(st.sampled_from(STEP_KINDS), st.integers(500, 20_000),
                                st.floats(0, 0.5)), min_size=1, max_size=25),
       start_wh=st.integers(0, 5_000_000))
def test_published_energy_never_decreases_and_dead_meter_keeps_last_good(
        mp: MicroPythonWorker, model: str, invert: bool, steps: list[tuple[str, int, float]],
        start_wh: int) -> None:
    values = PlantValues(energy_import_wh=start_wh, energy_export_wh=1000, power_w=7000,
                         voltage_v=230.0, current_a=10.0)
    emu = MeterEmulator(model, 1, values, reversed_mount=invert, seed=1)
    requests = mp.call("cases_modbus", "plan", MODEL_IDS[model], 1)
    # the first reading is a baseline; then the generated steps
    now = 0
    seq = [[now, _replies(emu, requests)]]
    ref = [("good", start_wh)]
    accepted_wh = start_wh
    since_ms = 0
    for kind, dt, frac in steps:
        now += dt
        since_ms += dt
        bound = MAX_POWER_W * since_ms / 3_600_000
        truth = values.energy_import_wh
        if kind == "good":
            truth = accepted_wh + int(frac * bound)  # well inside the bound
        elif kind == "decrease":
            truth = max(0, accepted_wh - 100 - int(frac * 1000))
        elif kind == "jump":
            truth = accepted_wh + int(2 * bound) + 2 * MARGIN_WH + 100
        emu.set_values(energy_import_wh=truth)
        emu.dead = kind == "silent"
        emu.crc_errors_next = 10 if kind == "crc" else 0
        emu.exceptions_next = 10 if kind == "exception" else 0
        seq.append([now, _replies(emu, requests)])
        emu.crc_errors_next = emu.exceptions_next = 0
        if kind == "decrease" and truth == accepted_wh:
            kind = "good"
        ref.append((kind, truth))
        if kind == "good":
            accepted_wh = truth
            since_ms = 0
    opts = {"max_power_w": MAX_POWER_W, "margin_wh": MARGIN_WH, "dead_after": DEAD_AFTER}
    snaps = mp.call("cases_modbus", "sequence", MODEL_IDS[model], 1, invert, seq, opts,
                    ["accepted", "energy_import_wh", "dead", "healthy"])
    last_good: int | None = None
    fails = 0
    for (kind, truth), snap in zip(ref, snaps, strict=True):
        assert snap["accepted"] == (kind == "good"), (kind, snap)
        if kind == "good":
            want = int(_si(model, "e", truth))
            assert last_good is None or want >= last_good
            last_good = want
            fails = 0
        else:
            fails += 1
        assert snap["energy_import_wh"] == last_good
        assert snap["dead"] == (fails >= DEAD_AFTER)
        assert snap["healthy"] == (fails < DEAD_AFTER)
