# Learned arrival pattern: a time-of-day histogram with daily decay.
#
# 48 half-hour bins. One arrival adds ONE to its bin; at each local midnight every bin (and the
# count of observed days) is multiplied by DECAY, so old weeks fade (half-life about 23 days).
# rate_mh[k] is the expected number of arrivals per hour in bin k, in milli-arrivals (smoothed),
# recomputed only when the histogram changes, so that reading it costs nothing in a step.
#
# Persisted with to_bytes()/from_bytes(): 4-byte header, 48 uint16 bins, uint16 days, 1-byte sum
# = 103 bytes, meant for a small file on flash written e.g. once an hour.
from array import array
from micropython import const

NBINS = const(48)
BIN_S = const(1800)
ONE = const(64)            # one arrival (and one day) in histogram units
_DECAY_NUM = const(62)     # decay per day = 62/64 ~ 0.969
_DECAY_DEN = const(64)
_MAXV = const(65535)
_MAGIC = b"FGA1"


class Arrivals:
    def __init__(self):
        self.bins = array("H", [0] * NBINS)   # decayed arrivals per bin, x ONE
        self.days = 0                         # decayed days observed, x ONE
        self.arrivals = 0                     # decayed total arrivals, x ONE (sum of bins)
        self.rate_mh = array("l", [0] * NBINS)
        self.quiet = bytearray(NBINS)         # 1: among the quietest bins (see set_quiet)
        self.quiet_pm = 60                    # their arrivals may add up to this share (per mille)
        self.last_tod = -1                    # -1: time of day not yet seen

    def record(self, tod_s):
        # One arrival at local time of day tod_s (0..86399).
        if tod_s < 0:
            return
        k = (tod_s // BIN_S) % NBINS
        v = self.bins[k] + ONE
        self.bins[k] = v if v < _MAXV else _MAXV
        if self.days < ONE:
            self.days = ONE   # the first day counts from the first arrival
        self._recompute()

    def observe(self, tod_s):
        # Feed the local time of day each step; decays once per local midnight.
        if tod_s < 0:
            return
        if self.last_tod >= 0 and tod_s < self.last_tod:
            self._new_day()
        self.last_tod = tod_s

    def _new_day(self):
        b = self.bins
        for k in range(NBINS):
            b[k] = b[k] * _DECAY_NUM // _DECAY_DEN
        self.days = self.days * _DECAY_NUM // _DECAY_DEN + ONE
        if self.days > _MAXV:
            self.days = _MAXV
        self._recompute()

    def _recompute(self):
        # Rate per bin, smoothed over +-1 h (weights 1 2 3 2 1) and shrunk 1/32 toward the mean:
        # a bin where nobody came yet is not taken as a bin where nobody ever comes.
        b = self.bins
        r = self.rate_mh
        d = self.days if self.days > 0 else ONE
        s = 0
        for k in range(NBINS):
            s += b[k]
        self.arrivals = s
        mean9 = s * 9 // NBINS
        for k in range(NBINS):
            sm = (b[(k - 2) % NBINS] + 2 * b[(k - 1) % NBINS] + 3 * b[k]
                  + 2 * b[(k + 1) % NBINS] + b[(k + 2) % NBINS])
            # per hour = 2 bins per hour; milli = x1000; /9 for the kernel
            r[k] = (sm * 31 + mean9) * 2000 // (d * 288)
        self._mark_quiet()

    def set_quiet(self, share_pm):
        # Which bins may be left unready at all: the quietest, up to share_pm of all arrivals.
        self.quiet_pm = share_pm
        self._mark_quiet()

    def _mark_quiet(self):
        q = self.quiet
        r = self.rate_mh
        total = 0
        for k in range(NBINS):
            q[k] = 0
            total += r[k]
        left = total * self.quiet_pm // 1000
        while True:
            best = -1
            for k in range(NBINS):
                if not q[k] and (best < 0 or r[k] < r[best]):
                    best = k
            if best < 0 or r[best] > left:
                return
            left -= r[best]
            q[best] = 1

    def count(self):
        # Decayed number of arrivals seen (float-free: whole arrivals).
        return self.arrivals // ONE

    def mature(self, min_arrivals=30, min_days=7):
        return self.arrivals >= min_arrivals * ONE and self.days >= min_days * ONE

    def rate_at(self, tod_s):
        # Expected arrivals per hour (x1000) at time of day tod_s.
        return self.rate_mh[(tod_s // BIN_S) % NBINS]

    def to_bytes(self):
        out = bytearray(4 + 2 * NBINS + 2 + 1)
        out[0:4] = _MAGIC
        i = 4
        for k in range(NBINS):
            v = self.bins[k]
            out[i] = v & 0xFF
            out[i + 1] = v >> 8
            i += 2
        out[i] = self.days & 0xFF
        out[i + 1] = self.days >> 8
        out[i + 2] = _sum8(out, i + 2)
        return bytes(out)

    @classmethod
    def from_bytes(cls, data):
        # A fresh, empty histogram when data is missing, short or corrupt (never raises).
        a = cls()
        if not data or len(data) != 4 + 2 * NBINS + 3 or bytes(data[0:4]) != _MAGIC:
            return a
        n = len(data) - 1
        if _sum8(data, n) != data[n]:
            return a
        i = 4
        for k in range(NBINS):
            a.bins[k] = data[i] | (data[i + 1] << 8)
            i += 2
        a.days = data[i] | (data[i + 1] << 8)
        a._recompute()
        return a


def _sum8(buf, n):
    s = 0x5A
    for i in range(n):
        s = (s * 31 + buf[i]) & 0xFF
    return s
