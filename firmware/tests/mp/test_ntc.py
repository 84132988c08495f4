# NTC conversion and channel health, run inside MicroPython.
import math
import ntc

BETA = {"beta": 3950, "r0": 10000, "t0_c": 25, "r_fixed": 10000, "topology": "pullup", "adc_bits": 12}


def _beta_temp_c(counts, cfg):
    # Independent float reference: invert the divider, then the Beta equation.
    full = (1 << cfg["adc_bits"]) - 1
    ratio = counts / full
    rf = cfg["r_fixed"]
    if cfg["topology"] == "pullup":
        r = rf * ratio / (1 - ratio)
    else:
        r = rf * (1 - ratio) / ratio
    inv = 1 / (cfg["t0_c"] + 273.15) + math.log(r / cfg["r0"]) / cfg["beta"]
    return 1 / inv - 273.15


def test_equal_resistances_read_as_the_reference_temperature():
    n = ntc.Ntc(BETA)
    # At 25 C the NTC equals the fixed resistor: the divider sits at half scale.
    assert abs(n.read_cc(2048) - 2500) <= 3


def test_pullup_conversion_matches_float_reference_over_the_range():
    n = ntc.Ntc(BETA)
    worst = 0
    for counts in range(120, 4060, 7):
        ref = _beta_temp_c(counts, BETA)
        if ref < -60 or ref > 150:
            continue
        err = abs(n.read_cc(counts) / 100 - ref)
        worst = max(worst, err)
    assert worst < 0.03, worst


def test_pulldown_conversion_matches_float_reference():
    cfg = dict(BETA, topology="pulldown")
    n = ntc.Ntc(cfg)
    for counts in (300, 1000, 2048, 3000, 3800):
        ref = _beta_temp_c(counts, cfg)
        if -60 < ref < 150:
            assert abs(n.read_cc(counts) / 100 - ref) < 0.03, (counts, ref)


def test_steinhart_hart_coefficients_agree_with_the_beta_curve_they_fit():
    # Fit Steinhart-Hart through three points of the Beta curve, then compare in between.
    ts = (-40.0, 0.0, 50.0)
    ls = []
    ys = []
    for t in ts:
        t_k = t + 273.15
        ls.append(math.log(10000 * math.exp(3950 * (1 / t_k - 1 / 298.15))))
        ys.append(1 / t_k)
    l1, l2, l3 = ls
    y1, y2, y3 = ys
    g2 = (y2 - y1) / (l2 - l1)
    g3 = (y3 - y1) / (l3 - l1)
    c = (g3 - g2) / (l3 - l2) / (l1 + l2 + l3)
    b = g2 - c * (l1 * l1 + l1 * l2 + l2 * l2)
    a = y1 - (b + l1 * l1 * c) * l1
    sh = ntc.Ntc({"sh": [a, b, c], "r_fixed": 10000, "topology": "pullup", "adc_bits": 12})
    be = ntc.Ntc(BETA)
    for counts in (3990, 3700, 3000, 2048, 1200):
        assert abs(sh.read_cc(counts) - be.read_cc(counts)) < 40, counts


def test_open_and_short_circuit_are_fault_codes_not_temperatures():
    n = ntc.Ntc(BETA)
    assert n.read_cc(4095) == ntc.OPEN
    assert n.read_cc(0) == ntc.SHORT
    assert ntc.is_fault(ntc.OPEN) and ntc.is_fault(ntc.SHORT)
    assert n.temp_c(4095) is None
    down = ntc.Ntc(dict(BETA, topology="pulldown"))
    assert down.read_cc(0) == ntc.OPEN
    assert down.read_cc(4095) == ntc.SHORT


def test_channel_recovers_from_open_only_after_valid_readings_for_a_while():
    ch = ntc.Channel(ntc.Ntc(BETA), 0, recover_ms=60000)
    good = [3000]
    ch.read(good, 0, 0)
    assert ch.ok()
    ch.read([4095], 1000, 0)
    assert ch.fault & ntc.F_OPEN and not ch.ok()
    ch.read(good, 30000, 0)
    assert not ch.ok()
    ch.read(good, 31000, 0)
    assert ch.ok()


def test_channel_flags_an_implausible_jump():
    n = ntc.Ntc(BETA)
    ch = ntc.Channel(n, 0, rate_cc_min=500)
    ch.read([n.counts_at(-30)], 0, 0)
    ch.read([n.counts_at(-29)], 1000, 0)
    assert ch.ok()
    ch.read([n.counts_at(-10)], 1000, 0)
    assert ch.fault & ntc.F_RATE


def test_channel_flags_a_slow_but_implausible_drift_per_minute():
    n = ntc.Ntc(BETA)
    ch = ntc.Channel(n, 0, rate_cc_min=500)
    t = -30.0
    for _ in range(70):
        t += 0.15     # 9 K per minute in one-second steps: each step looks small
        ch.read([n.counts_at(t)], 1000, 0)
    assert ch.fault & ntc.F_RATE


def test_channel_frozen_counts_while_heater_swings_is_stuck():
    ch = ntc.Channel(ntc.Ntc(BETA), 0, stuck_ms=3600000, stuck_swing=500)
    duty = 0
    for i in range(70):
        duty = 1000 if (i // 10) % 2 else 0
        ch.read([3500], 60000, duty)
    assert ch.fault & ntc.F_STUCK


def test_channel_frozen_counts_with_heater_steady_is_not_stuck():
    ch = ntc.Channel(ntc.Ntc(BETA), 0, stuck_ms=3600000, stuck_swing=500)
    for _ in range(200):
        ch.read([3500], 60000, 0)
    assert ch.ok()
