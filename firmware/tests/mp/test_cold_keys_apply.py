# The thermal thresholds as OCPP configuration keys (app_cold_keys.py): a changed value reaches the
# running controller at once, is stored in config.json and applies again after a reboot
# (fake_cold.py says how they are called).
import gc
import json

from fake_cold import boot, change, get, steps


def test_a_changed_minimum_holds_charging_at_once_and_is_stored():
    app, cold = boot()
    c = app.conn
    steps(app, cold, (-15, -15))
    assert c.hold is None and not app.cold, 'both zones warm enough for the station.json limits'
    assert change(cold, 'FrostgridZoneMinC.electronics', '-10.5') == 'Accepted'
    steps(app, cold, (-15, -15), 1)
    assert c.hold == 'FG_COLD' and app.cold, 'the new minimum holds charging without a reboot'
    assert c.hold_info.startswith('cold zone=electronics'), c.hold_info
    z = cold.ctl.zones[0]
    assert (z.min_cc, z.hold_cc, z.drop_cc) == (-1050, -990, -1040), 'the levels above it move along'
    assert get(cold, ['FrostgridZoneMinC.electronics'])[0] == {'FrostgridZoneMinC.electronics': '-10.5'}
    with open('config.json') as f:
        assert json.load(f)['FrostgridZoneMinC.electronics'] == '-10.5'
    assert change(cold, 'FrostgridZoneMinC.electronics', '-25') == 'Accepted'
    steps(app, cold, (-15, -15), 1)
    assert c.hold is None and not app.cold, 'released again at the lower minimum'


def test_hysteresis_cutoff_and_floor_reach_the_controller():
    app, cold = boot()
    e, k = cold.ctl.zones
    assert change(cold, 'FrostgridZoneHystK.electronics', '0.5') == 'Accepted'
    assert change(cold, 'FrostgridZoneCutoffC.electronics', '45') == 'Accepted'
    assert change(cold, 'FrostgridStandbyFloorC', '-42.5') == 'Accepted'
    assert (e.hyst_cc, e.cut_cc) == (50, 4500)
    assert e.floor_cc == -4250 and k.floor_cc == -4000, 'a zone with a floor of its own keeps it'
    steps(app, cold, (-19.3, -25))
    assert app.conn.hold is None, 'released at -20 + 0.5 K'
    steps(app, cold, (46, -25), 1)
    assert 'OverTemp:electronics' in cold.ctl.alarms(), 'cut off at the new 45 C'


def test_stored_thresholds_apply_again_after_a_reboot():
    app, cold = boot()
    assert change(cold, 'FrostgridZoneMinC.connector', '-35') == 'Accepted'
    assert change(cold, 'FrostgridStandbyFloorC', '-45') == 'Accepted'
    app = cold = None  # the station before the reboot goes (the 100 kB test heap holds one)
    gc.collect()
    app, cold = boot(wipe=False)  # a reboot: config.json is read again, station.json as before
    e, k = cold.ctl.zones
    assert k.min_cc == -3500 and e.min_cc == -2000
    assert e.floor_cc == -4500
    keys = get(cold, ['FrostgridZoneMinC.connector', 'FrostgridStandbyFloorC'])[0]
    assert keys['FrostgridZoneMinC.connector'] == '-35' and keys['FrostgridStandbyFloorC'] == '-45'
