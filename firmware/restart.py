# Restart back-off and soft-start ramp for an EV that trips in the cold: never a contactor
# cycling in a loop. Pure: time comes in as a tick argument (wrapping at 2**30 like ticks_ms).
from micropython import const

_TICK_MASK = const(0x3FFFFFFF)
_TICK_HALF = const(0x20000000)


def ticks_diff(a, b):
    d = (a - b) & _TICK_MASK
    if d >= _TICK_HALF:
        d -= _TICK_MASK + 1
    return d


class RestartGuard:
    # trip(now) after an EV fault/overcurrent opened the contactor; may_close(now) says when a
    # retry is allowed (base, 2x base, 4x base ... up to max_ms); after max_tries trips without a
    # quiet period the guard gives up until reset() (re-plug or operator). limit_pct(now) is the
    # current limit of the soft-start ramp since the last close; cap_pct(now) is what the setpoint
    # executor applies (power.Power.soft_pct): 100 until an EV trips, then the ramp's start while
    # the contactor is open and the ramp after each close, until reset().
    def __init__(self, base_ms=30000, max_ms=960000, max_tries=6, quiet_ms=900000,
                 ramp_ms=120000, start_pct=25):
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.max_tries = max_tries
        self.quiet_ms = quiet_ms
        self.ramp_ms = ramp_ms
        self.start_pct = start_pct
        self.reset()

    def reset(self):
        self.trips = 0            # trips in the current series
        self.wait_ms = 0          # back-off after the last trip
        self.trip_ms = 0          # tick of the last trip
        self.close_ms = 0         # tick of the last close
        self.closed_now = 0

    def trip(self, now_ms):
        if self.trips and self.closed_now and ticks_diff(now_ms, self.close_ms) >= self.quiet_ms:
            self.trips = 0
        self.trips += 1
        w = self.base_ms
        for _ in range(self.trips - 1):
            w *= 2
            if w >= self.max_ms:
                w = self.max_ms
                break
        self.wait_ms = w
        self.trip_ms = now_ms
        self.closed_now = 0
        return w

    def gave_up(self):
        return self.trips >= self.max_tries

    def may_close(self, now_ms):
        if self.trips == 0:
            return True
        if self.gave_up():
            return False
        return ticks_diff(now_ms, self.trip_ms) >= self.wait_ms

    def closed(self, now_ms):
        self.close_ms = now_ms
        self.closed_now = 1

    def limit_pct(self, now_ms):
        if not self.closed_now:
            return 0
        el = ticks_diff(now_ms, self.close_ms)
        if el >= self.ramp_ms:
            return 100
        return self.start_pct + (100 - self.start_pct) * el // self.ramp_ms

    def cap_pct(self, now_ms):
        if not self.trips:
            return 100
        return self.limit_pct(now_ms) if self.closed_now else self.start_pct
