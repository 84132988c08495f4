# What the thermal controller has learned, kept across a power cut or a firmware update
# (learned.bin; the arrival pattern has its own file, arrivals.bin): per zone the lumped model's
# a, b and how many samples each rests on; the miss value V and the arrival, miss and risk
# counters that steer it (the past weeks', decayed, and today's). Without it a reboot starts the
# model from the configured tau and heater rise and V from wait_value_wh: the controller spends
# days re-learning (docs/thermal.md).
# Loaded for the boot and for each hourly save, dropped after (lazy.py).
#   pack(ctl)           -> bytes
#   restore(ctl, data)  -> 'ok' | 'none' (no file) | 'corrupt' | 'other zones'; ctl is changed
#                          only on 'ok'
# Layout (little-endian): "FGL1", zones (u8), fingerprint (u16), V, the four decayed counters and
# today's four (9 x i32), today's heated flag (u8), per zone a, b (2 x i32) and na, nb (2 x u16),
# then the CRC-32 of everything before it (as the journal's records).
import struct
from micropython import const

try:
    from binascii import crc32
except ImportError:  # a port without it: the journal's fallback (journal is resident on a station)
    from journal import crc32

_MAGIC = const(b'FGL1')
_HEAD = const('<4sBH9lB')
_ZONE = const('<2l2H')
_V_MAX = const(20000)  # as thermal._V_MAX


def fingerprint(ctl):
    # the zones a model was learned for: names, heater power and minimum, in order. A model learned
    # for another heater or another compartment does not apply.
    h = ctl.n
    for z in ctl.zones:
        for c in z.name:
            h = (h * 31 + ord(c)) & 0xFFFF
        h = (h * 31 + z.heater_w + z.min_cc) & 0xFFFF
    return h


def pack(ctl):
    hs = struct.calcsize(_HEAD)
    zs = struct.calcsize(_ZONE)
    out = bytearray(hs + zs * ctl.n + 4)
    struct.pack_into(_HEAD, out, 0, _MAGIC, ctl.n, fingerprint(ctl), ctl.value_wh, ctl.risk_m,
                     ctl.expect_m, ctl.arr_m, ctl.miss_m, ctl.risk_u, ctl.expect_u, ctl.arr_day,
                     ctl.miss_day, ctl.heated)
    i = hs
    for z in ctl.zones:
        m = z.model
        struct.pack_into(_ZONE, out, i, m.a, m.b, min(m.na, 0xFFFF), min(m.nb, 0xFFFF))
        i += zs
    struct.pack_into('<I', out, i, crc32(memoryview(out)[:i]) & 0xFFFFFFFF)
    return bytes(out)


def restore(ctl, data):
    if not data:
        return 'none'
    hs = struct.calcsize(_HEAD)
    zs = struct.calcsize(_ZONE)
    if len(data) < hs + 4 or bytes(data[0:4]) != _MAGIC:
        return 'corrupt'
    n = len(data) - 4
    if struct.unpack_from('<I', data, n)[0] != crc32(memoryview(data)[:n]) & 0xFFFFFFFF:
        return 'corrupt'
    h = struct.unpack_from(_HEAD, data, 0)
    nz, fp, v = h[1], h[2], h[3]
    if nz != ctl.n or n != hs + zs * nz or fp != fingerprint(ctl):
        return 'other zones'
    models = []
    i = hs
    for _ in range(nz):
        models.append(struct.unpack_from(_ZONE, data, i))
        i += zs
    # a CRC that matches over bytes written by another build is still checked for sense
    if not 1 <= v <= _V_MAX or min(h[4:12]) < 0 or h[12] > 1:
        return 'corrupt'
    for a, b, _, _ in models:
        if a < 1 or b < 1:
            return 'corrupt'
    v = ctl.value_wh
    (ctl.value_wh, ctl.risk_m, ctl.expect_m, ctl.arr_m, ctl.miss_m, ctl.risk_u, ctl.expect_u,
     ctl.arr_day, ctl.miss_day, ctl.heated) = h[3:]
    if not ctl.v_learn:
        ctl.value_wh = v   # a V fixed by configuration wins over one learned before
    for z, (a, b, na, nb) in zip(ctl.zones, models):
        m = z.model
        m.a, m.b, m.na, m.nb = a, b, na, nb
    return 'ok'
