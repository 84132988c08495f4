# The setpoint executor (power.py): one arbitration chain, ramping, the discharge extension and
# the charge-only fall-backs; and the Smart Charging CALLs (ocpp16_sc.py) that feed it, on a
# minimal core (runs in MicroPython).
import json
import os

import ocpp16_calls as calls
import profiles
from power import Power

T0 = 1768888800  # 2026-01-20T06:00:00Z
MAX = 11000
RAMP = 5000  # W/s
FALLBACK_S = 30
RESERVE = 20


def wipe():
    for f in ('profiles.json', 'profiles.json.tmp'):
        try:
            os.remove(f)
        except OSError:
            pass


class Conn:
    connector_id = 1


class Core:
    # what ocpp16_sc uses of ocpp16.Ocpp16
    def __init__(self, capable=True):
        wipe()
        self.power = profiles.setup(Power(), (MAX, 230, capable, RAMP, FALLBACK_S, RESERVE))
        self.conn = Conn()
        self.t = T0
        self.tx_ltx = 0
        self.txid = None
        self.cfg = {}
        self.logs = []

    def now_s(self):
        return self.t

    def tx_id(self):
        return self.txid

    def cfg_get(self, key):
        return self.cfg.get(key)

    def log(self, text, level='INFO'):
        self.logs.append(text)


def call(core, action, payload):
    # the response payload (status str or dict), or the CALLERROR code
    try:
        res = calls.handle(core, action, payload, 0)
    except calls.Bad as e:
        return e.args[0]
    return res['status'] if len(res) == 1 else res


def tx_profile(pid, limit, stack=1, unit='W', purpose='TxProfile', kind='Relative', periods=None, **extra):
    cp = {'chargingProfileId': pid, 'stackLevel': stack, 'chargingProfilePurpose': purpose,
          'chargingProfileKind': kind,
          'chargingSchedule': {'chargingRateUnit': unit,
                               'chargingSchedulePeriod': periods or [{'startPeriod': 0, 'limit': limit}]}}
    cp.update(extra)
    return {'connectorId': 0 if purpose == 'ChargePointMaxProfile' else 1, 'csChargingProfiles': cp}


class Run:
    # drives Power.step every 200 ms like app._control
    def __init__(self, core):
        self.core = core
        self.ms = 0
        self.safe = self.warm = self.online = True
        self.soc = 60
        self.v2g = True

    def steps(self, n=1):
        c = self.core
        w = None
        for _ in range(n):
            self.ms += 200
            if self.ms % 1000 == 0:
                c.t += 1
            w = c.power.step(self.ms, c.t, self.safe, not self.warm, self.online, c.tx_ltx, c.txid,
                             self.soc, self.v2g)
        return w


def charging(capable=True):
    core = Core(capable)
    core.tx_ltx, core.txid = 1, 77
    r = Run(core)
    r.steps(20)
    return core, r


def test_no_profile_charges_at_the_hardware_limit_after_a_ramp():
    core, r = charging()
    assert r.steps() == MAX
    r2 = Run(Core())
    r2.steps()
    assert 0 < r2.steps() <= RAMP * 200 // 1000


def test_a_tx_profile_reduces_charging_to_its_limit():
    core, r = charging()
    assert call(core, 'SetChargingProfile', tx_profile(1, 4000)) == 'Accepted'
    assert r.steps(20) == 4000


def test_the_ramp_limits_how_fast_the_setpoint_moves():
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, 1000))
    seen = [r.steps() for _ in range(12)]
    steps = [a - b for a, b in zip([MAX] + seen, seen)]
    assert max(steps) <= RAMP * 200 // 1000 and seen[-1] == 1000, seen


def test_discharge_capable_station_discharges_on_a_negative_watt_limit():
    core, r = charging()
    assert call(core, 'SetChargingProfile', tx_profile(1, -3000)) == 'Accepted'
    assert r.steps(25) == -3000


def test_a_station_without_the_extension_clamps_a_negative_limit_at_zero():
    core, r = charging(capable=False)
    assert call(core, 'SetChargingProfile', tx_profile(1, -3000)) == 'Accepted'
    assert r.steps(25) == 0
    comp = call(core, 'GetCompositeSchedule', {'connectorId': 1, 'duration': 600})
    assert comp['chargingSchedule']['chargingSchedulePeriod'][0]['limit'] == 0


def test_no_discharge_at_or_below_the_soc_reserve_or_from_an_ev_that_cannot():
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, -3000))
    r.soc = RESERVE
    assert r.steps(25) == 0
    r.soc, r.v2g = 80, False
    assert r.steps(25) == 0
    r.v2g = True
    assert r.steps(25) == -3000


def test_safety_and_cold_interlock_cut_to_zero_at_once():
    core, r = charging()
    r.safe = False
    assert r.steps() == 0
    r.safe, r.warm = True, False
    assert r.steps() == 0
    r.warm = True
    assert 0 < r.steps() < MAX


def test_link_lost_longer_than_the_fallback_time_returns_to_charging_only():
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, -3000))
    assert r.steps(25) == -3000
    r.online = False
    assert r.steps(5 * (FALLBACK_S - 1)) == -3000  # a short outage changes nothing
    r.steps(5 * 2 + 40)
    assert r.steps() == MAX
    r.online = True
    assert r.steps(25) == -3000


def test_profile_expiry_returns_to_the_default():
    core, r = charging()
    p = tx_profile(1, -3000)
    p['csChargingProfiles']['chargingSchedule']['duration'] = 10
    call(core, 'SetChargingProfile', p)
    assert r.steps(25) == -3000
    r.steps(5 * 10)
    assert r.steps() == MAX


def test_tx_profiles_go_when_the_transaction_ends():
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, 2000))
    core.tx_ltx, core.txid = 0, None
    r.steps()
    assert core.power.profiles == []
    with open('profiles.json') as f:
        assert json.load(f) == []


def test_set_charging_profile_rejections():
    core, r = charging()
    core.cfg['ChargeProfileMaxStackLevel'] = 3
    assert call(core, 'SetChargingProfile', tx_profile(1, 1000, stack=4)) == 'Rejected'
    bad = tx_profile(2, 1000, purpose='ChargePointMaxProfile')
    bad['connectorId'] = 1
    assert call(core, 'SetChargingProfile', bad) == 'Rejected'
    assert call(core, 'SetChargingProfile', tx_profile(3, 1000, transactionId=5)) == 'Rejected'
    descending = [{'startPeriod': 0, 'limit': 1}, {'startPeriod': 0, 'limit': 2}]
    assert call(core, 'SetChargingProfile', tx_profile(4, 0, periods=descending)) == 'Rejected'
    assert call(core, 'SetChargingProfile', tx_profile(5, 'x')) == 'TypeConstraintViolation'
    core.tx_ltx = 0
    assert call(core, 'SetChargingProfile', tx_profile(6, 1000)) == 'Rejected'  # no transaction
    assert core.power.profiles == []


def test_clear_and_composite_schedule_in_amps():
    core, r = charging()
    absolute = tx_profile(1, 16, unit='A', purpose='TxDefaultProfile', kind='Absolute',
                          periods=[{'startPeriod': 0, 'limit': 16}, {'startPeriod': 300, 'limit': 8}])
    assert call(core, 'SetChargingProfile', absolute) == 'Accepted'
    comp = call(core, 'GetCompositeSchedule', {'connectorId': 1, 'duration': 900, 'chargingRateUnit': 'A'})
    per = comp['chargingSchedule']['chargingSchedulePeriod']
    assert comp['status'] == 'Accepted'
    assert [(p['startPeriod'], p['limit']) for p in per] == [(0, 16), (300, 8)]
    assert call(core, 'ClearChargingProfile', {'id': 9}) == 'Unknown'
    assert call(core, 'ClearChargingProfile', {'chargingProfilePurpose': 'TxDefaultProfile'}) == 'Accepted'
    comp = call(core, 'GetCompositeSchedule', {'connectorId': 1, 'duration': 900})
    per = comp['chargingSchedule']['chargingSchedulePeriod']
    assert [(p['startPeriod'], p['limit']) for p in per] == [(0, MAX)]


def test_a_steady_step_allocates_nothing():
    import gc
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, -3000))
    r.steps(30)
    p = core.power
    gc.collect()
    before = gc.mem_alloc()
    for i in range(100):
        p.step(10000 + i * 200, T0 + 100, True, False, True, 1, 77, 60, True)
    assert gc.mem_alloc() - before == 0, gc.mem_alloc() - before


def test_meter_values_report_discharge_as_export_with_the_evs_soc():
    import ocpp16_mv as msg
    core, r = charging()
    core.power.step(r.ms + 200, core.t, True, False, True, 1, 77, 55, True, 1234)
    every = ('Energy.Active.Import.Register,Power.Active.Import,Power.Active.Export,'
             'Energy.Active.Export.Register,SoC')
    sv = json.loads(msg.sampled('Sample.Periodic', 5000, -3000, every, 0, core.power))
    assert [(s['measurand'], s['value'], s['unit']) for s in sv] == [
        ('Energy.Active.Import.Register', '5000', 'Wh'), ('Power.Active.Import', '0', 'W'),
        ('Power.Active.Export', '3000', 'W'), ('Energy.Active.Export.Register', '1234', 'Wh'),
        ('SoC', '55', 'Percent')]
    sv = json.loads(msg.sampled('Sample.Periodic', 5000, 7000, every, 0, core.power))
    assert [s['value'] for s in sv[1:3]] == ['7000', '0']


def test_smart_charging_calls_are_dispatched_and_refused_before_the_boot_is_accepted():
    core, r = charging()
    sent = []
    core.send = sent.append
    core.boot = 1  # BootNotification Pending
    calls.answer(core, 'u1', 'SetChargingProfile', tx_profile(1, 4000), 0)
    core.boot = 3  # Accepted
    calls.answer(core, 'u2', 'SetChargingProfile', tx_profile(1, 4000), 0)
    calls.answer(core, 'u3', 'GetCompositeSchedule', {'connectorId': 1, 'duration': 60}, 0)
    out = [json.loads(s) for s in sent]
    assert out[0][:3] == [4, 'u1', 'SecurityError']
    assert out[1] == [3, 'u2', {'status': 'Accepted'}]
    assert out[2][2]['chargingSchedule']['chargingSchedulePeriod'] == [{'startPeriod': 0, 'limit': 4000}]


def test_charge_only_after_link_loss_stays_under_the_charge_point_maximum():
    core, r = charging()
    call(core, 'SetChargingProfile', tx_profile(1, -3000))
    call(core, 'SetChargingProfile', tx_profile(2, 5000, purpose='ChargePointMaxProfile', kind='Absolute'))
    assert r.steps(25) == -3000
    r.online = False
    r.steps(5 * (FALLBACK_S + 2))
    assert r.steps(10) == 5000
