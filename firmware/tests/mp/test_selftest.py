# The installer self-test's verdicts (firmware/selftest.py), run inside MicroPython.
import ntc
import selftest

NTC = {"beta": 3950, "r0": 10000, "t0_c": 25, "r_fixed": 10000, "topology": "pullup", "adc_bits": 12}


def _snap(**kw):
    s = {"energy_import_wh": 1234, "energy_export_wh": 0, "power_w": 0, "current_a": [0.0, 0.0, 0.0],
         "voltage_v": [230.0, 231.0, 229.0], "frequency_hz": 50.0, "status": "ok", "reason": None,
         "flags": 0, "healthy": True, "dead": False, "fails": 0}
    s.update(kw)
    return s


def test_cold_but_plausible_thermistor_passes_with_its_temperature():
    conv = ntc.Ntc(NTC)
    ok, t, _ = selftest.sensor_verdict(conv, conv.counts_at(-35.0))
    assert ok
    assert abs(t - -35.0) < 0.3


def test_broken_thermistor_wire_is_named_open_circuit():
    conv = ntc.Ntc(NTC)
    ok, t, detail = selftest.sensor_verdict(conv, 4095)
    assert not ok and t is None
    assert "open" in detail


def test_shorted_thermistor_is_named_short_circuit():
    conv = ntc.Ntc(NTC)
    ok, _, detail = selftest.sensor_verdict(conv, 0)
    assert not ok
    assert "short" in detail


def test_reading_hotter_than_any_site_is_implausible():
    conv = ntc.Ntc(NTC)
    ok, t, detail = selftest.sensor_verdict(conv, conv.counts_at(95.0))
    assert not ok and t > 90
    assert "implausible" in detail


def test_heater_that_warms_its_zone_enough_passes():
    ok, detail = selftest.heater_verdict(-30.0, -28.5, 1.0, 40)
    assert ok and "+1.5 K" in detail


def test_heater_that_leaves_its_zone_cold_fails():
    ok, detail = selftest.heater_verdict(-30.0, -29.8, 1.0, 600)
    assert not ok and "dead" in detail


def test_heater_without_temperature_reading_fails():
    ok, detail = selftest.heater_verdict(None, None, 1.0, 0)
    assert not ok and "no temperature" in detail


def test_meter_with_sane_registers_passes():
    ok, detail = selftest.meter_verdict(_snap(), 3)
    assert ok and "E=1234 Wh" in detail


def test_dead_meter_fails_with_its_reason():
    ok, detail = selftest.meter_verdict(_snap(dead=True, healthy=False, reason="timeout"), 3)
    assert not ok and "timeout" in detail


def test_meter_reporting_no_mains_voltage_range_fails():
    ok, detail = selftest.meter_verdict(_snap(voltage_v=[230.0, 120.0, 229.0]), 3)
    assert not ok and "L2" in detail


def test_meter_frequency_out_of_range_fails():
    ok, detail = selftest.meter_verdict(_snap(frequency_hz=75.0), 3)
    assert not ok and "frequency" in detail


def test_zone_warming_by_itself_does_not_pass_for_a_working_heater():
    # the display's own electronics warm it 1.3 K over the test: a dead heater must still fail
    ok, detail = selftest.heater_verdict(-20.0, -18.7, 1.0, 400, drift_k=1.25)
    assert not ok and "dead" in detail


def test_heater_beating_the_zone_drift_by_the_margin_passes():
    ok, _ = selftest.heater_verdict(-20.0, -17.5, 1.0, 200, drift_k=0.6)
    assert ok
