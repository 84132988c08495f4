"""The sim board's cold-region calls (thermistor counts, heaters, thermal clock, RS-485 bus), in
MicroPython, against the real plant server with heated zones and a Modbus meter (§1.2, §1.3)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from firmware.tests.mp_bridge import micropython_binary, mp_env
from hil_tests.plant import Ev, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.thermal_plant import AC7, ntc_counts

DRIVER = """
import asyncio, json, sys
import modbus
from board import make_board
b = make_board({'id': 'FG-C', 'plant': sys.argv[1], 'meter': {}, 'thermal': {}}, None)
async def main():
    await b.start()
    await b.poll()
    first = {'adc': list(b.adc_counts())[:3], 'tms': b.thermal_ms(), 'tod': b.tod_s()}
    b.set_heater(0, 1000)
    b.set_heater(2, 250)
    await asyncio.sleep_ms(300)
    await b.poll()
    await b.poll()
    uart, de = b.rs485(19200)
    bus = modbus.Bus(uart, 19200, timeout_ms=300)
    st = await bus.transact(1, 3, 0x101E, 2)
    kwh = modbus.f32(bus.master.resp, 3) if st == modbus.OK else None
    print(json.dumps({'first': first, 'tms': b.thermal_ms(), 'heat': [b.heater(0), b.heater(2)],
                      'modbus': st, 'kwh': kwh, 'de': de}))
asyncio.run(main())
"""


@pytest.fixture
def plant() -> Iterator[ThreadedPlant]:
    p = ThreadedPlant()
    yield p
    p.close()


def test_sim_board_reads_thermistors_drives_heaters_and_talks_modbus_to_the_plant(
        plant: ThreadedPlant) -> None:
    st = plant.station("FG-C")
    cold = ColdPlant(AC7, temp_c=[-40.0, -20.0, 0.0], ambient_c=-40.0, time_scale=50.0, tod_start_s=3600)
    st.attach_cold(cold)
    st.attach_meter(MeterBus("DTSU666", address=1))
    st.plug_in(Ev(max_power_w=7000.0))
    st.on_set({"contactor": 1})
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=192k", "-c", DRIVER, plant.address],
                          env=mp_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # raw counts of each zone's divider, straight from the plant's temperatures
    for c, t in zip(out["first"]["adc"], [-40.0, -20.0, 0.0], strict=True):
        assert abs(c - ntc_counts(t)) <= 1, out
    assert 0 <= out["first"]["tod"] - 3600 < 600
    # the thermal clock is the plant's: it advanced with the polls, at the plant's time scale
    assert out["tms"] > out["first"]["tms"]
    assert out["heat"] == [1000, 250] and cold.duty_pm == [1000, 0, 250]
    # the meter bus: raw RTU bytes on a second connection, the register = the plant's energy
    assert out["modbus"] == 0 and out["de"] is None
    assert abs(out["kwh"] * 1000.0 - st.energy_wh) <= 2.0
