# Charging profile cases for CPython-driven tests (firmware/tests/test_profiles_hypothesis.py):
# the firmware's profiles.py evaluated on profiles and times the test generates. Profiles arrive
# as JSON lists in profiles.py's tuple layout; results are JSON-serialisable.
import profiles


def _tuples(profs):
    return [tuple(p[:12]) + (tuple(p[12]),) for p in profs]


def limits(profs, times, txid, tx_s, volts):
    # [[limit_w or None, next change or 0], ...] at each time
    ps = _tuples(profs)
    return [list(profiles.limit(ps, t, 1, txid, tx_s, volts)) for t in times]


def composite(profs, t0, dur, txid, tx_s, volts, default_w):
    return [list(x) for x in profiles.composite(_tuples(profs), t0, dur, 1, txid, tx_s, volts, default_w)]
