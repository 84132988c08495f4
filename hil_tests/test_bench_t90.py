"""The response-time figure of `bench/bench_v2g_t90.py`, computed from power traces."""

from __future__ import annotations

from bench.bench_v2g_t90 import settle_time

# a group charging at 140 kW ordered to -30 kW at t = 100 s: 90 % of the change is -153 kW, so the
# group must be at or below -13 kW; 50 % means at or below 55 kW
BEFORE_W, TARGET_W, T0 = 140_000.0, -30_000.0, 100.0


def test_t90_is_when_the_group_power_first_covers_90_percent_of_the_ordered_change() -> None:
    trace = [(99.0, 140_000.0), (101.0, 140_000.0), (102.0, 60_000.0), (103.0, 50_000.0),
             (104.0, -12_000.0), (105.0, -14_000.0), (106.0, -30_000.0), (130.0, -30_000.0)]
    assert settle_time(trace, T0, BEFORE_W, TARGET_W, 0.9) == 5.0
    assert settle_time(trace, T0, BEFORE_W, TARGET_W, 0.5) == 3.0


def test_a_response_that_falls_back_out_of_the_band_counts_from_its_return() -> None:
    trace = [(101.0, -20_000.0), (102.0, -20_000.0), (103.0, 10_000.0), (110.0, -25_000.0),
             (140.0, -29_000.0)]
    assert settle_time(trace, T0, BEFORE_W, TARGET_W, 0.9) == 10.0


def test_going_beyond_the_target_in_the_ordered_direction_counts_as_covered() -> None:
    trace = [(101.0, 140_000.0), (103.0, -60_000.0), (120.0, -60_000.0)]
    assert settle_time(trace, T0, BEFORE_W, TARGET_W, 0.9) == 3.0


def test_no_time_when_the_response_is_not_held_at_the_end_or_goes_the_wrong_way() -> None:
    leaves = [(101.0, -30_000.0), (120.0, -30_000.0), (121.0, 0.0)]
    assert settle_time(leaves, T0, BEFORE_W, TARGET_W, 0.9) is None
    wrong_way = [(101.0, 200_000.0), (120.0, 300_000.0)]
    assert settle_time(wrong_way, T0, BEFORE_W, TARGET_W, 0.5) is None
    only_before = [(50.0, -30_000.0), (99.0, -30_000.0)]
    assert settle_time(only_before, T0, BEFORE_W, TARGET_W, 0.9) is None


def test_an_order_to_charge_more_is_measured_the_same_way() -> None:
    trace = [(100.5, 0.0), (101.0, 5_000.0), (102.0, 9_500.0), (104.0, 10_000.0)]
    assert settle_time(trace, T0, 0.0, 10_000.0, 0.9) == 2.0
    assert settle_time(trace, T0, 0.0, 0.0, 0.9) == 0.0  # nothing ordered: nothing to wait for
