"""The plant's cold-region side: zones on an accelerated clock, thermistor counts, heaters, the meter bus."""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from hil_tests.meter_emulator import crc_ok, read_request
from hil_tests.plant import Ev, StationPlant, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.thermal_plant import AC7, ntc_temp_c, time_to_reach_s


def _station(**cold_kw: object) -> tuple[StationPlant, ColdPlant]:
    st = StationPlant("C1")
    cold = ColdPlant(AC7, **cold_kw)  # type: ignore[arg-type]
    st.attach_cold(cold)
    return st, cold


def test_time_scale_runs_the_zones_faster_than_the_wall_clock_as_the_physics_says() -> None:
    st, cold = _station(temp_c=-42.0, ambient_c=-42.0, wind_ms=0.0, time_scale=60.0)
    cold.set_heaters([1000, 0, 0])
    target = -18.0
    expect_s = time_to_reach_s(AC7.zones[0], -42.0, target, -42.0, 0.0, 1.0)
    wall = 0.0
    while wall < expect_s / 60.0:  # the firmware polls every 0.2 s
        wall += 0.2
        cold.poll(wall, charging=False)
    assert cold.t_s == pytest.approx(expect_s, abs=12.0)
    assert cold.temp_c("electronics") == pytest.approx(target, abs=0.05)
    assert cold.temp_c("connector") == pytest.approx(-42.0, abs=0.01), "an unheated zone stays at ambient"
    assert cold.tms() == int(cold.t_s * 1000) & 0x3FFFFFFF


def test_thermal_clock_waits_for_a_stalled_firmware() -> None:
    _, cold = _station(ambient_c=-30.0, time_scale=100.0, max_gap_s=1.0)
    cold.poll(10.0, charging=False)
    cold.poll(10.2, charging=False)
    assert cold.t_s == pytest.approx(20.0)
    cold.poll(40.2, charging=False)  # the firmware did not poll for 30 s
    assert cold.t_s == pytest.approx(120.0), "a stall advances the physics by max_gap_s at most"


def test_thermistor_counts_are_the_zone_temperature_through_the_ntc_divider() -> None:
    _, cold = _station(temp_c=[-42.0, -5.0, 30.0], ambient_c=-42.0)
    for c, t in zip(cold.counts(), cold.temps_c, strict=True):
        assert ntc_temp_c(c) == pytest.approx(t, abs=0.1)
    cold.sensor_fault("connector", "open")
    assert cold.counts()[1] == 4095, "an open thermistor on a pull-up divider reads full scale"
    cold.sensor_fault("connector", "short")
    assert cold.counts()[1] == 0


def test_stuck_on_heater_heats_whatever_the_command_and_a_dead_one_never() -> None:
    _, cold = _station(temp_c=-30.0, ambient_c=-30.0, time_scale=1.0)
    cold.heater_stuck_on[0] = True
    cold.heater_dead[1] = True
    cold.set_heaters([0, 1000, 0])
    cold.advance(3600.0, charging=False)
    assert cold.temp_c(0) > -25.0
    assert cold.temp_c(1) == pytest.approx(-30.0, abs=0.01)
    assert cold.model.heater_energy_j[1] == pytest.approx(20.0 * 3600.0), "a dead heater still draws power"


def test_hot_spot_heat_drives_a_zone_to_its_steady_state() -> None:
    _, cold = _station(temp_c=-20.0, ambient_c=-20.0)
    cold.extra_w[0] = 160.0
    cold.advance(20 * 5000.0, charging=False)  # 20 time constants
    z = AC7.zones[0]
    assert cold.temp_c(0) == pytest.approx(-20.0 + (160.0 + z.internal_idle_w) / z.ua_calm_w_per_k, abs=0.05)


def test_time_of_day_follows_the_thermal_clock() -> None:
    _, cold = _station(ambient_c=-30.0, time_scale=100.0, tod_start_s=86000)
    cold.advance(10.0, charging=False)
    assert cold.tod_s() == (86000 + 1000) % 86400


def test_meter_register_is_the_plant_energy_and_unplugged_bus_is_silent() -> None:
    bus = MeterBus("SDM630", address=3)
    bus.update(12345, 7000.0)
    reply = bus.feed(read_request(3, 4, 0x0048, 2))
    assert reply is not None and crc_ok(reply)
    assert struct.unpack(">f", reply[3:7])[0] == pytest.approx(12.345)
    bus.unplug()
    assert bus.feed(read_request(3, 4, 0x0048, 2)) is None


@pytest.fixture
def threaded_plant() -> Iterator[ThreadedPlant]:
    p = ThreadedPlant()
    yield p
    p.close()


def _lines(sock: socket.socket, req: dict) -> dict:
    sock.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(4096)
        assert chunk, "plant closed the link"
        buf += chunk
    return json.loads(buf)


def test_plant_serves_thermistors_heaters_and_the_rs485_bus_over_the_wire(
        threaded_plant: ThreadedPlant) -> None:
    st = threaded_plant.station("FG-C")
    cold = ColdPlant(AC7, temp_c=-40.0, ambient_c=-40.0, time_scale=10.0)
    st.attach_cold(cold)
    st.attach_meter(MeterBus("DTSU666", address=1))
    host, port = threaded_plant.address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as ctl, \
            socket.create_connection((host, int(port)), timeout=5) as rs:
        assert _lines(ctl, {"op": "hello", "id": "FG-C"}) == {"ok": 1}
        r = _lines(ctl, {"op": "get"})
        assert len(r["adc"]) == 3 and isinstance(r["tms"], int) and 0 <= r["tod"] < 86400
        assert ntc_temp_c(r["adc"][0]) == pytest.approx(-40.0, abs=0.2)
        assert _lines(ctl, {"op": "set", "heat": [1000, 500, 0]}) == {"ok": 1}
        assert cold.duty_pm == [1000, 500, 0]
        time.sleep(0.3)
        r2 = _lines(ctl, {"op": "get"})
        assert r2["tms"] > r["tms"], "the thermal clock advances with the firmware's polls"
        assert ntc_temp_c(r2["adc"][0]) > ntc_temp_c(r["adc"][0]), "the commanded heater warms the zone"
        st.plug_in(Ev(max_power_w=7000.0))
        _lines(ctl, {"op": "set", "contactor": 1})

        assert _lines(rs, {"op": "hello", "id": "FG-C", "bus": "rs485"}) == {"ok": 1}
        rs.sendall(read_request(1, 3, 0x101E, 2))
        reply = b""
        while len(reply) < 9:
            reply += rs.recv(64)
        assert crc_ok(reply[:9])
        kwh = struct.unpack(">f", reply[3:7])[0]
        assert math.isclose(kwh * 1000.0, st.energy_wh, abs_tol=1.0)
