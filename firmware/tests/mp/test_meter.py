# Meter models, decoding to SI units, register sanity and health, run inside MicroPython.
import gc
import asyncio
from binascii import unhexlify
import modbus
import meter
import meter_models as mm
from cases_modbus import Slave, FakeUart, ReplayUart, transact

_M = modbus.Master(baud=9600, timeout_ms=50, retries=0)


def _slave(address, fcs, image):
    # image: {register: "8 hex digits" of a two-register value, high word first}
    s = Slave(address=address, fcs=fcs)
    for reg, h in image.items():
        b = unhexlify(h)
        s.regs[reg] = (b[0] << 8) | b[1]
        s.regs[reg + 1] = (b[2] << 8) | b[3]
    return s


def _cycle(mt, slave, now_ms):
    # One meter cycle against a Slave through the Master core.
    mt.begin()
    req = bytearray(8)
    for i in range(mt.nblocks):
        modbus.build_read(req, mt.address, mt.fc, mt.block_reg(i), mt.block_count(i))
        r = slave.reply(bytes(req))
        _M.begin(mt.address, mt.fc, mt.block_reg(i), mt.block_count(i))
        if transact(_M, [r] if r else [], now_ms) != modbus.DONE:
            mt.fail(now_ms, _M.reason())
            return False
        mt.decode(i, _M.resp)
    return mt.commit(now_ms)


def _near(a, b, eps=1e-4):
    return a is not None and abs(a - b) <= eps


DDSU_IMAGE = {
    0x2000: "43668000",  # 230.5 V
    0x2002: "41fa6666",  # 31.3 A
    0x2004: "40e66666",  # 7.2 kW
    0x200E: "42480000",  # 50 Hz
    0x4000: "449a5000",  # 1234.5 kWh imported
    0x400A: "41240000",  # 10.25 kWh exported
}

DTSU_IMAGE = {
    0x2000: "45c7a000",  # 6388.0 (0.1 V) line-to-line: must not be read as phase voltage
    0x2006: "450fd000",  # 2301 -> 230.1 V
    0x2008: "450fb000",  # 2299 -> 229.9 V
    0x200A: "45101000",  # 2305 -> 230.5 V
    0x200C: "467a0000",  # 16000 -> 16.0 A
    0x200E: "46723000",  # 15500 -> 15.5 A
    0x2010: "467de800",  # 16250 -> 16.25 A
    0x2012: "47d7a000",  # 110400 -> 11040 W
    0x2044: "459c3000",  # 4998 -> 49.98 Hz
    0x101E: "45b17200",  # 5678.25 kWh
    0x1028: "40600000",  # 3.5 kWh
}

SDM_IMAGE = {
    0x0000: "43673333",  # 231.2 V
    0x0002: "4365cccd",  # 229.8 V
    0x0004: "43660000",  # 230.0 V
    0x0006: "41200000",  # 10.0 A
    0x0008: "41280000",  # 10.5 A
    0x000A: "41300000",  # 11.0 A
    0x0034: "45d93000",  # 6950 W
    0x0046: "4247e148",  # 49.97 Hz
    0x0048: "47c0e6b7",  # 98765.43 kWh (float32: 98765.4296875)
    0x004A: "3e000000",  # 0.125 kWh
}


def test_model_indices_are_stable_and_append_only():
    assert [m[0] for m in mm.MODELS] == ["DDSU666", "DTSU666", "SDM630", "DTSU666-U2000"]
    assert mm.model_index("SDM630") == mm.SDM630_ID == 2
    for m in mm.MODELS:
        assert len(m[3]) == 4 * mm.NQ


def test_ddsu666_kw_and_kwh_registers_read_as_watts_and_watt_hours():
    mt = meter.Meter(mm.DDSU666_ID, 1)
    assert mt.fc == 3 and mt.phases == 1
    assert _cycle(mt, _slave(1, (3,), DDSU_IMAGE), 1000)
    assert mt.energy_import_wh == 1234500
    assert mt.energy_export_wh == 10250
    assert mt.power_w == 7200
    assert len(mt.current_a) == 1 and _near(mt.current_a[0], 31.3)
    assert mt.voltage_v == [230.5]
    assert mt.frequency_hz == 50.0
    assert mt.healthy and not mt.dead and mt.status() == "ok"


def test_dtsu666_scaled_registers_read_per_phase_in_si_units():
    mt = meter.Meter(mm.DTSU666_ID, 5)
    assert _cycle(mt, _slave(5, (3,), DTSU_IMAGE), 1000)
    assert mt.energy_import_wh == 5678250 and mt.energy_export_wh == 3500
    assert mt.power_w == 11040
    assert _near(mt.voltage_v[0], 230.1) and _near(mt.voltage_v[1], 229.9) and _near(mt.voltage_v[2], 230.5)
    assert mt.current_a == [16.0, 15.5, 16.25]
    assert _near(mt.frequency_hz, 49.98)


def test_dtsu666_variant_reads_phase_voltage_at_0x2000():
    mt = meter.Meter(mm.DTSU666_U2000_ID, 5)
    assert _cycle(mt, _slave(5, (3,), DTSU_IMAGE), 1000)
    assert _near(mt.voltage_v[0], 638.8)
    assert mt.power_w == 11040


def test_sdm630_reads_input_registers_with_function_04():
    mt = meter.Meter(mm.SDM630_ID, 2)
    assert mt.fc == 4 and mt.nblocks == 1
    assert _cycle(mt, _slave(2, (4,), SDM_IMAGE), 1000)
    assert mt.energy_import_wh == 98765430  # float32 resolution of the kWh register
    assert mt.energy_export_wh == 125
    assert mt.power_w == 6950
    assert _near(mt.voltage_v[0], 231.2) and _near(mt.voltage_v[1], 229.8) and mt.voltage_v[2] == 230.0
    assert mt.current_a == [10.0, 10.5, 11.0]
    assert _near(mt.frequency_hz, 49.97)


def test_sdm630_asked_with_function_03_reports_the_exception():
    mt = meter.Meter(mm.SDM630_ID, 2, fc=3)
    assert not _cycle(mt, _slave(2, (4,), SDM_IMAGE), 1000)
    assert mt.reason == "IllegalFunction" and mt.energy_import_wh is None


def test_reversed_meter_with_invert_reports_import_as_positive():
    image = dict(DDSU_IMAGE)
    image[0x2004] = "c0e66666"  # the reversed meter sees -7.2 kW
    image[0x4000] = "41240000"  # and books the charging energy as its export
    image[0x400A] = "449a5000"
    mt = meter.Meter(mm.DDSU666_ID, 1, invert=True)
    assert _cycle(mt, _slave(1, (3,), image), 1000)
    assert mt.power_w == 7200
    assert mt.energy_import_wh == 1234500 and mt.energy_export_wh == 10250
    plain = meter.Meter(mm.DDSU666_ID, 1)
    assert _cycle(plain, _slave(1, (3,), image), 1000)
    assert plain.power_w == -7200 and plain.energy_import_wh == 10250


def test_discharge_reads_negative_power():
    image = dict(DDSU_IMAGE)
    image[0x2004] = "c0e66666"
    mt = meter.Meter(mm.DDSU666_ID, 1)
    assert _cycle(mt, _slave(1, (3,), image), 1000)
    assert mt.power_w == -7200


def _ddsu(imp_kwh, exp_kwh=0.0):
    s = Slave(address=1, fcs=(3,))
    s.set_f32(0x4000, imp_kwh)
    s.set_f32(0x400A, exp_kwh)
    s.set_f32(0x2004, 7.0)
    s.set_f32(0x2000, 230.0)
    s.set_f32(0x200E, 50.0)
    return s


def test_energy_decrease_is_rejected_and_last_good_value_kept():
    mt = meter.Meter(mm.DDSU666_ID, 1)
    assert _cycle(mt, _ddsu(1000.0), 0)
    assert not _cycle(mt, _ddsu(999.5), 1000)
    assert mt.flags & meter.F_DECREASE and mt.reason == "decrease"
    assert mt.energy_import_wh == 1000000 and mt.anomalies == 1
    assert mt.healthy and mt.status() == "suspect"


def test_meter_reset_to_lower_register_goes_dead_until_rebaselined():
    mt = meter.Meter(mm.DDSU666_ID, 1, dead_after=3)
    assert _cycle(mt, _ddsu(1000.0), 0)
    for t in (1000, 2000, 3000):
        assert not _cycle(mt, _ddsu(0.5), t)
    assert mt.dead and not mt.healthy and mt.reason == "decrease"
    assert mt.energy_import_wh == 1000000
    mt.rebaseline()
    assert _cycle(mt, _ddsu(0.5), 4000)
    assert mt.energy_import_wh == 500 and mt.healthy and not mt.dead


def test_jump_beyond_max_power_is_flagged_and_allowed_once_time_explains_it():
    mt = meter.Meter(mm.DDSU666_ID, 1, max_power_w=7400, margin_wh=20)
    assert _cycle(mt, _ddsu(1000.0), 0)
    # 200 Wh in 60 s needs 12 kW: more than the charger can draw
    assert not _cycle(mt, _ddsu(1000.2), 60000)
    assert mt.flags & meter.F_JUMP and mt.reason == "jump"
    assert mt.energy_import_wh == 1000000
    # 120 s after the last good reading, 200 Wh fits 7.4 kW
    assert _cycle(mt, _ddsu(1000.2), 120000)
    assert mt.energy_import_wh == 1000200 and mt.flags == 0


def test_export_register_is_checked_like_import():
    mt = meter.Meter(mm.DDSU666_ID, 1, max_power_w=7400)
    assert _cycle(mt, _ddsu(10.0, 5.0), 0)
    assert not _cycle(mt, _ddsu(10.0, 4.0), 1000)
    assert mt.reason == "decrease" and mt.energy_export_wh == 5000
    assert not _cycle(mt, _ddsu(10.0, 50.0), 2000)
    assert mt.reason == "jump"


U16_MODEL = ("TEST-U16", 3, 1, mm.rows(
    (0x0000, mm.T_U16, mm.S_MUL10),  # energy import, 10 Wh per count: wraps at 655360 Wh
    (0x0001, mm.T_U16, mm.S_MUL10),
    (0x0002, mm.T_I16, mm.S_1),
    (0, mm.T_NONE, 0), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0),
    (0, mm.T_NONE, 0), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0),
))


def test_register_rollover_at_its_width_is_counted_on_not_flagged():
    s = Slave(address=1, fcs=(3,), regs={0: 65530, 1: 7, 2: 0xFFF6})
    mt = meter.Meter(U16_MODEL, 1, max_power_w=50000)
    assert mt.nblocks == 1
    assert _cycle(mt, s, 0)
    assert mt.energy_import_wh == 655300 and mt.power_w == -10
    s.regs[0] = 4  # wrapped: +100 Wh in 10 s
    assert _cycle(mt, s, 10000)
    assert mt.flags == meter.F_ROLLOVER and mt.rollovers == 1
    assert mt.energy_import_wh == 655400
    s.regs[0] = 9
    assert _cycle(mt, s, 20000)
    assert mt.energy_import_wh == 655450 and mt.flags == 0


def test_decrease_far_from_the_register_width_is_not_a_rollover():
    s = Slave(address=1, fcs=(3,), regs={0: 30000, 1: 0, 2: 0})
    mt = meter.Meter(U16_MODEL, 1)
    assert _cycle(mt, s, 0)
    s.regs[0] = 2
    assert not _cycle(mt, s, 10000)
    assert mt.reason == "decrease" and mt.energy_import_wh == 300000


def test_word_swapped_model_decodes_low_word_first():
    model = ("TEST-CDAB", 3, 1, mm.rows(
        (0x0010, mm.T_F32 | mm.SWAP, mm.S_MUL1000),
        (0x0012, mm.T_U32 | mm.SWAP, mm.S_1),
        (0x0014, mm.T_F32 | mm.SWAP, mm.S_1),
        (0, mm.T_NONE, 0), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0),
        (0x0016, mm.T_F32, mm.S_1), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0), (0, mm.T_NONE, 0),
    ))
    s = Slave(address=1, fcs=(3,))
    s.set_f32(0x10, 12.5, swap=True)
    s.set_u32(0x12, 70000, swap=True)
    s.set_f32(0x14, -3000.0, swap=True)
    s.set_f32(0x16, 229.5)
    mt = meter.Meter(model, 1)
    assert _cycle(mt, s, 0)
    assert mt.energy_import_wh == 12500 and mt.energy_export_wh == 70000
    assert mt.power_w == -3000 and mt.voltage_v == [229.5]
    assert mt.frequency_hz is None and mt.current_a == [None]


def test_non_finite_register_value_is_rejected():
    image = dict(DDSU_IMAGE)
    mt = meter.Meter(mm.DDSU666_ID, 1)
    assert _cycle(mt, _slave(1, (3,), image), 0)
    image[0x2004] = "7fc00000"  # NaN
    assert not _cycle(mt, _slave(1, (3,), image), 1000)
    assert mt.reason == "value" and mt.flags == meter.F_VALUE and mt.power_w == 7200


def test_meter_that_stops_answering_goes_dead_and_keeps_last_good_values():
    s = _slave(1, (3,), DDSU_IMAGE)
    mt = meter.Meter(mm.DDSU666_ID, 1, dead_after=3)
    assert _cycle(mt, s, 0)
    s.silent = 100
    assert not _cycle(mt, s, 1000)
    assert mt.healthy and not mt.dead and mt.status() == "suspect" and mt.fails == 1
    assert not _cycle(mt, s, 2000)
    assert not mt.dead
    assert not _cycle(mt, s, 3000)
    assert mt.dead and not mt.healthy and mt.status() == "dead" and mt.reason == "timeout"
    assert mt.energy_import_wh == 1234500 and mt.energy_export_wh == 10250 and mt.power_w == 7200
    assert mt.t_ms == 0 and mt.age_ms(3000) == 3000
    s.silent = 0
    assert _cycle(mt, s, 4000)
    assert mt.healthy and not mt.dead and mt.reason is None and mt.fails == 0


def test_meter_silent_from_boot_is_dead_without_readings():
    s = _slave(1, (3,), DDSU_IMAGE)
    s.silent = 100
    mt = meter.Meter(mm.DDSU666_ID, 1, dead_after=2)
    assert mt.status() == "unknown" and not mt.healthy
    _cycle(mt, s, 0)
    assert not mt.healthy and not mt.dead
    _cycle(mt, s, 1000)
    assert mt.dead and mt.energy_import_wh is None and mt.reason == "timeout"


def test_exception_answers_count_as_failed_cycles_with_the_exception_name():
    s = _slave(1, (3,), DDSU_IMAGE)
    mt = meter.Meter(mm.DDSU666_ID, 1, dead_after=1)
    s.exception = 4
    assert not _cycle(mt, s, 0)
    assert mt.dead and mt.reason == "ServerDeviceFailure"


def test_reads_are_grouped_into_blocks_and_max_gap_zero_reads_only_contiguous_registers():
    mt = meter.Meter(mm.DTSU666_ID, 1)
    assert [(mt.block_reg(i), mt.block_count(i)) for i in range(mt.nblocks)] == [(0x101E, 12), (0x2006, 64)]
    tight = meter.Meter(mm.DTSU666_ID, 1, max_gap=0)
    assert [(tight.block_reg(i), tight.block_count(i)) for i in range(tight.nblocks)] == [
        (0x101E, 2), (0x1028, 2), (0x2006, 14), (0x2044, 2)]
    # a meter that refuses undefined addresses: only the registers of the image exist
    s = _slave(1, (3,), DTSU_IMAGE)
    regs = s.regs

    class Strict(Slave):
        def reply(self, req):
            reg = (req[2] << 8) | req[3]
            count = (req[4] << 8) | req[5]
            self.exception = 0
            for r in range(reg, reg + count):
                if r not in regs:
                    self.exception = 2
            return Slave.reply(self, req)

    strict = Strict(address=1, fcs=(3,), regs=regs)
    assert not _cycle(mt, strict, 0) and mt.reason == "IllegalDataAddress"
    assert _cycle(tight, strict, 0) and tight.power_w == 11040


def test_meter_reads_over_the_async_bus():
    s = _slave(5, (3,), DTSU_IMAGE)
    s.corrupt = 1  # one CRC error on the way: retried, not a failed cycle
    bus = modbus.Bus(FakeUart(s, chunk=7), baud=115200, timeout_ms=20, retries=2)
    mt = meter.Meter(mm.DTSU666_ID, 5)

    async def go():
        return await mt.read(bus)

    assert asyncio.run(go())
    assert mt.energy_import_wh == 5678250 and mt.power_w == 11040 and mt.healthy
    assert bus.master.crc_errors == 1 and bus.master.ok == 2
    s.silent = 100
    assert not asyncio.run(go())
    assert mt.reason == "timeout" and mt.energy_import_wh == 5678250 and mt.fails == 1
    assert bus.master.timeouts == 3


def _frames(slave, mt):
    out = []
    req = bytearray(8)
    for i in range(mt.nblocks):
        modbus.build_read(req, mt.address, mt.fc, mt.block_reg(i), mt.block_count(i))
        out.append(slave.reply(bytes(req)))
    return out


def test_heap_of_a_meter_and_of_one_read_cycle():
    gc.collect()
    a0 = gc.mem_alloc()
    mt = meter.Meter(mm.DTSU666_ID, 5)
    gc.collect()
    inst = gc.mem_alloc() - a0
    replies = _frames(_slave(5, (3,), DTSU_IMAGE), mt)
    bus = modbus.Bus(ReplayUart(replies), baud=115200, timeout_ms=20, retries=0, poll_ms=0)
    gc.collect()
    a1 = gc.mem_alloc()
    bus2 = modbus.Bus(ReplayUart(replies), baud=115200, timeout_ms=20, retries=0, poll_ms=0)
    gc.collect()
    bus_bytes = gc.mem_alloc() - a1
    del bus2

    async def go(n):
        for _ in range(n):
            assert await mt.read(bus)

    asyncio.run(go(2))
    n = 20
    gc.collect()
    a2 = gc.mem_alloc()
    asyncio.run(go(n))
    per = (gc.mem_alloc() - a2) // n
    print("heap: Meter(DTSU666) %d B, Bus %d B, read cycle %d B" % (inst, bus_bytes, per))
    # unix port, 64-bit (32-byte GC blocks, 32 B per float): about half on a 32-bit ESP32
    assert inst < 2048
    # the float objects of the decoded values and the coroutine frames; no buffers
    assert per < 2048
