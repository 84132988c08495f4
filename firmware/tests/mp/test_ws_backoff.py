# Reconnect back-off and stale-link detection inside MicroPython (pure, no clock).
import ws


def test_backoff_grows_is_bounded_and_resets():
    b = ws.Backoff(1000, 8000, seed=42)
    d = [b.next_ms() for _ in range(12)]
    caps = [1000, 2000, 4000, 8000] + [8000] * 8
    for v, cap in zip(d, caps):
        assert cap // 2 <= v <= cap, (v, cap)
    b.reset()
    assert 500 <= b.next_ms() <= 1000


def test_backoff_jitter_differs_between_stations_and_a_seed_repeats():
    firsts = set(ws.Backoff(10000, 60000, seed=s).next_ms() for s in range(1, 30))
    assert len(firsts) > 20
    seeded = [ws.Backoff(1000, 60000, seed=7) for _ in range(2)]
    assert [seeded[0].next_ms() for _ in range(5)] == [seeded[1].next_ms() for _ in range(5)]
    unseeded = set(ws.Backoff(10000, 60000).next_ms() for _ in range(10))
    assert len(unseeded) > 5


def test_liveness_pings_after_silence_and_declares_dead_after_timeout():
    lv = ws.Liveness(1000, 500)
    lv.reset(0)
    assert not lv.due_ping(999) and not lv.dead(999)
    assert lv.due_ping(1000)
    assert not lv.due_ping(1001)  # one ping outstanding at a time
    assert lv.wait_ms(1200) == 300
    assert not lv.dead(1499) and lv.dead(1500)


def test_liveness_any_frame_answers_the_ping():
    lv = ws.Liveness(1000, 500)
    lv.reset(0)
    assert lv.due_ping(1000)
    lv.seen(1400)
    assert not lv.dead(1900)
    assert not lv.due_ping(2399) and lv.due_ping(2400)


def test_liveness_traffic_postpones_pings_and_zero_interval_disables():
    lv = ws.Liveness(1000, 500)
    lv.reset(0)
    for t in range(0, 10000, 900):
        lv.seen(t)
        assert not lv.due_ping(t + 899)
    off = ws.Liveness(0, 500)
    off.reset(0)
    assert not off.due_ping(10 ** 6) and not off.dead(10 ** 6)


def test_liveness_survives_ticks_wraparound():
    import time
    near = time.ticks_add(0, -300)  # 300 ms before ticks_ms wraps
    lv = ws.Liveness(1000, 500)
    lv.reset(near)
    assert not lv.due_ping(time.ticks_add(near, 999))
    assert lv.due_ping(time.ticks_add(near, 1000))
    assert lv.dead(time.ticks_add(near, 1500))
