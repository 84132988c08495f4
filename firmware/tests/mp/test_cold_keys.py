# The thermal thresholds as OCPP configuration keys (app_cold_keys.py): listed by
# GetConfiguration with the core's keys, and what ChangeConfiguration refuses (fake_cold.py says
# how they are called).
import json

import app_cold_make
from fake_cold import App, Core, boot, change, get


def test_get_configuration_reports_the_zone_thresholds_and_the_standby_floor_with_the_core_keys():
    # (every key at once: hil_tests/test_cold_start.py, the 100 kB test heap is too small for it)
    app, cold = boot()
    names = ['FrostgridZoneMinC.electronics', 'FrostgridZoneMinC.connector', 'FrostgridZoneHystK.electronics',
             'FrostgridZoneCutoffC.connector', 'FrostgridStandbyFloorC', 'HeartbeatInterval']
    keys, unknown = get(cold, names)
    assert keys == {'FrostgridZoneMinC.electronics': '-20', 'FrostgridZoneMinC.connector': '-30',
                    'FrostgridZoneHystK.electronics': '2', 'FrostgridZoneCutoffC.connector': '60',
                    'FrostgridStandbyFloorC': '-38', 'HeartbeatInterval': '300'}, keys
    assert unknown == []
    asked, unknown = get(cold, ['frostgridzonecutoffc.ELECTRONICS', 'HeartbeatInterval',
                                 'FrostgridZoneMinC.nowhere'])
    assert asked == {'FrostgridZoneCutoffC.electronics': '60', 'HeartbeatInterval': '300'}, asked
    assert unknown == ['FrostgridZoneMinC.nowhere']
    only, unknown = get(cold, ['FrostgridZoneHystK.connector'])
    assert only == {'FrostgridZoneHystK.connector': '2'} and unknown == []


def test_values_out_of_range_or_inconsistent_are_rejected_and_change_nothing():
    app, cold = boot()
    z = cold.ctl.zones[0]
    before = (z.min_cc, z.hyst_cc, z.cut_cc, z.floor_cc)
    for key, value in (('FrostgridZoneMinC.electronics', 'cold'), ('FrostgridZoneMinC.electronics', '-70'),
                       ('FrostgridZoneMinC.electronics', '-20.125'), ('FrostgridZoneMinC.electronics', ''),
                       ('FrostgridZoneMinC.electronics', '56'),  # over the cut-off's release level
                       ('FrostgridZoneHystK.electronics', '0.1'),  # not above the drop margin
                       ('FrostgridZoneHystK.electronics', '11'), ('FrostgridZoneCutoffC.electronics', '-14'),
                       ('FrostgridZoneCutoffC.electronics', '126'), ('FrostgridStandbyFloorC', '5'),
                       ('FrostgridStandbyFloorC', 'nan')):
        assert change(cold, key, value) == 'Rejected', (key, value)
    assert (z.min_cc, z.hyst_cc, z.cut_cc, z.floor_cc) == before
    assert change(cold, 'FrostgridZoneMinC.nowhere', '-20') == 'NotSupported'
    assert change(cold, 'HeartbeatInterval', '120') == 'Accepted', 'the core keys still change'
    assert cold.core.cfg.get('HeartbeatInterval') == 120
    with open('config.json') as f:
        assert json.load(f) == {'HeartbeatInterval': 120}


def test_a_station_without_zones_has_no_thermal_keys():
    app = App()
    cold = app_cold_make.build(app, {'restart': {}})  # e.g. a Modbus meter only
    cold.core = Core()
    keys, unknown = get(cold, ['FrostgridZoneMinC.electronics', 'FrostgridStandbyFloorC',
                               'HeartbeatInterval'])
    assert keys == {'HeartbeatInterval': '300'}
    assert unknown == ['FrostgridZoneMinC.electronics', 'FrostgridStandbyFloorC']
    assert change(cold, 'FrostgridZoneMinC.electronics', '-20') == 'NotSupported'

