# Learned arrival pattern, run inside MicroPython.
from arrivals import Arrivals, NBINS


def _learned(days=10):
    a = Arrivals()
    for d in range(days):
        for h in (8, 8, 12, 17, 17, 17):
            a.record(h * 3600 + 600)
        a.observe(23 * 3600)
        a.observe(60)          # local midnight passed
    return a


def test_histogram_round_trips_through_bytes():
    a = _learned()
    data = a.to_bytes()
    b = Arrivals.from_bytes(data)
    assert list(b.bins) == list(a.bins)
    assert b.days == a.days
    assert list(b.rate_mh) == list(a.rate_mh)
    assert b.mature() == a.mature()


def test_persisted_histogram_is_small():
    assert len(_learned().to_bytes()) <= 110


def test_corrupt_or_short_data_gives_an_empty_histogram():
    data = bytearray(_learned().to_bytes())
    data[10] ^= 0x40
    assert Arrivals.from_bytes(bytes(data)).count() == 0
    assert Arrivals.from_bytes(b"FGA1").count() == 0
    assert Arrivals.from_bytes(None).count() == 0


def test_busy_hours_get_higher_rates_than_quiet_hours():
    a = _learned()
    assert a.rate_at(17 * 3600 + 600) > a.rate_at(3 * 3600)
    assert a.rate_at(8 * 3600) > a.rate_at(3 * 3600)
    # A bin next to a busy one is not taken as never visited.
    assert a.rate_at(16 * 3600 + 1800) > 0


def test_rates_are_arrivals_per_hour():
    a = _learned(days=20)
    total_mh = 0
    for k in range(NBINS):
        total_mh += a.rate_mh[k]
    # 6 arrivals a day spread over 24 h: the bins' hourly rates sum to 2 x 6 per day.
    assert 9000 < total_mh < 15000, total_mh


def test_old_arrivals_fade_at_each_midnight():
    a = Arrivals()
    for _ in range(20):
        a.record(9 * 3600)
    before = a.bins[18]
    for d in range(30):
        a.observe(23 * 3600)
        a.observe(0)
    assert a.bins[18] < before // 2


def test_needs_a_week_of_arrivals_before_predicting():
    a = Arrivals()
    assert not a.mature()
    assert _learned(days=8).mature()
