"""The device-under-test runner, exercised with a stand-in firmware (hil_tests/tests/fake_firmware)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.dut import Dut, DutTimeout, parse_heap, station_json
from hil_tests.plant import ThreadedPlant

FAKE_FW = Path(__file__).resolve().parent / "tests" / "fake_firmware"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[ThreadedPlant, Dut]]:
    plant = ThreadedPlant(evse_max_power_w=36_000.0)
    dut = Dut(tmp_path / "dut", station_json("FAKE-1", "ws://127.0.0.1:9/ocpp", "pw", plant.address,
                                             heap_report_ms=200),
              config={"MeterValueSampleInterval": 2}, fw_dir=FAKE_FW, heap="64k")
    yield plant, dut
    dut.stop()
    plant.close()


def test_dut_writes_provisioning_and_partial_config_before_first_boot(rig: tuple[ThreadedPlant, Dut]) -> None:
    _, dut = rig
    dut.start()
    dut.wait_for(r"boot 1 id=FAKE-1")
    assert '"board": "sim"' in (dut.data_dir / "station.json").read_text()
    assert (dut.data_dir / "config.json").read_text() == '{"MeterValueSampleInterval": 2}'


def test_dut_drives_the_plant_through_a_session(rig: tuple[ThreadedPlant, Dut]) -> None:
    plant, dut = rig
    dut.start()
    dut.wait_for("boot 1")
    st = plant.station("FAKE-1").plug_in()
    st.present_tag("CARD1")
    m = dut.wait_for(r"TX start tag=CARD1 meter=(\d+)")
    assert int(m.group(1)) == 0
    time.sleep(0.5)
    assert st.contactor and st.energy_wh > 0
    st.unplug()
    m = dut.wait_for(r"TX stop meter=(\d+) delta=(\d+)")
    assert int(m.group(2)) == st.energy_wh
    assert dut.wait_for(r"HEAP alloc=(\d+)")


def test_kill9_drops_the_contactor_and_restart_boots_again(rig: tuple[ThreadedPlant, Dut]) -> None:
    plant, dut = rig
    dut.start()
    dut.wait_for("boot 1")
    st = plant.station("FAKE-1").plug_in().present_tag("C")
    dut.wait_for("TX start")
    pid = dut.pid
    dut.kill9()
    assert not dut.running and dut.exits == [-9]
    time.sleep(0.3)
    assert not st.contactor, "a dead controller cannot hold the contactor"
    dut.restart()
    assert dut.pid != pid
    dut.wait_for("boot 2")


def test_firmware_reset_exit_code_3_is_restarted_automatically(rig: tuple[ThreadedPlant, Dut]) -> None:
    _, dut = rig
    dut.start()
    dut.wait_for("boot 1")
    (dut.data_dir / "reset_now").write_text("")
    dut.wait_for("RESET")
    dut.wait_for("boot 2")
    assert dut.exits == [3] and dut.running and dut.boots == 2


def test_crashpoint_hangs_until_killed(rig: tuple[ThreadedPlant, Dut]) -> None:
    _, dut = rig
    dut.write_station(test_crash={"journal_write": 1, "bytes": 3})
    dut.start()
    dut.wait_for("CRASHPOINT")
    time.sleep(0.3)
    assert dut.running
    dut.kill9()
    dut.write_station(test_crash=None)
    mark = dut.mark()
    dut.start()
    dut.wait_for("boot 2", since=mark)
    assert not dut.grep("CRASHPOINT", since=mark)


def test_wait_for_times_out_with_the_log_tail(rig: tuple[ThreadedPlant, Dut]) -> None:
    _, dut = rig
    dut.start()
    dut.wait_for("boot 1")
    with pytest.raises(DutTimeout, match="boot 1"):
        dut.wait_for("never printed", timeout=0.5)


def test_heap_cap_is_passed_to_micropython(rig: tuple[ThreadedPlant, Dut]) -> None:
    _, dut = rig
    assert "heapsize=64k" in dut.command()
    assert parse_heap("64k") == 65536 and parse_heap("1m") == 1 << 20 and parse_heap(5000) == 5000


def test_wait_for_gives_up_at_once_when_the_firmware_exited(tmp_path: Path) -> None:
    dut = Dut(tmp_path / "dead", station_json("FAKE-2", "ws://127.0.0.1:9/ocpp", "pw", "127.0.0.1:9"),
              fw_dir=FAKE_FW, heap="64k")
    try:
        dut.start()
        t0 = time.monotonic()
        with pytest.raises(DutTimeout, match="the firmware exited"):
            dut.wait_for("boot 1", timeout=30)
        assert time.monotonic() - t0 < 5
        assert dut.exits and dut.exits[0] != 0 and not dut.running
    finally:
        dut.stop()
