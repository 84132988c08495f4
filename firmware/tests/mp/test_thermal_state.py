# What the thermal controller learned survives a reboot (thermal_state: learned.bin), and a file
# that is missing, torn, corrupt or learned for other zones is refused without touching the
# controller.
import thermal
import thermal_state
from cases_thermal import Plant, cfg, day, quiet_night_pattern


def _learned():
    # a controller that has run two days on the small plant: its models and V have moved
    ctl = thermal.Thermal(cfg(wait_s=60), quiet_night_pattern())
    plant = Plant([-35.0, -35.0, -35.0])
    now = 0
    for _ in range(2):
        now, _ = day(ctl, plant, 0, 24, now)
    ctl.value_wh = 1234  # a V that no default gives
    ctl.miss_m = 1500
    ctl.arr_day = 3  # and today's counters
    ctl.miss_day = 1
    ctl.heated = 1
    return ctl


def _state(ctl):
    return ([(z.model.a, z.model.b, z.model.na, z.model.nb) for z in ctl.zones],
            (ctl.value_wh, ctl.risk_m, ctl.expect_m, ctl.arr_m, ctl.miss_m, ctl.risk_u, ctl.expect_u,
             ctl.arr_day, ctl.miss_day, ctl.heated))


def test_a_rebooted_controller_starts_from_what_was_learned():
    old = _learned()
    assert old.zones[0].model.nb > 0 and old.zones[0].model.na > 0, 'the plant taught the model'
    data = thermal_state.pack(old)
    new = thermal.Thermal(cfg(wait_s=60))
    assert _state(new) != _state(old)
    assert thermal_state.restore(new, data) == 'ok'
    assert _state(new) == _state(old)
    assert thermal_state.pack(new) == data


def test_a_value_fixed_by_configuration_is_kept_and_the_models_restored():
    data = thermal_state.pack(_learned())
    new = thermal.Thermal(cfg(wait_s=60, wait_value_wh=321, wait_value_learn=False))
    assert thermal_state.restore(new, data) == 'ok'
    models, counters = _state(new)
    old_models, old_counters = _state(_learned())
    assert models == old_models
    assert counters[0] == 321 and counters[1:] == old_counters[1:]


def test_no_file_leaves_the_defaults():
    ctl = thermal.Thermal(cfg())
    before = _state(ctl)
    assert thermal_state.restore(ctl, None) == 'none'
    assert thermal_state.restore(ctl, b'') == 'none'
    assert _state(ctl) == before


def test_a_torn_or_flipped_file_is_refused_and_changes_nothing():
    data = thermal_state.pack(_learned())
    ctl = thermal.Thermal(cfg())
    before = _state(ctl)
    for n in (1, 4, 12, len(data) - 1):
        assert thermal_state.restore(ctl, data[:n]) == 'corrupt', n
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        assert thermal_state.restore(ctl, bytes(bad)) in ('corrupt', 'other zones'), i
    assert _state(ctl) == before


def test_values_that_make_no_sense_are_refused_even_with_a_good_sum():
    ctl = _learned()
    ctl.value_wh = 0
    assert thermal_state.restore(thermal.Thermal(cfg()), thermal_state.pack(ctl)) == 'corrupt'
    ctl = _learned()
    ctl.zones[1].model.b = 0
    assert thermal_state.restore(thermal.Thermal(cfg()), thermal_state.pack(ctl)) == 'corrupt'


def test_a_model_learned_for_other_zones_does_not_apply():
    data = thermal_state.pack(_learned())
    other = cfg()
    other['zones'][0]['heater_w'] = 120  # a bigger heater: its b is wrong
    assert thermal_state.restore(thermal.Thermal(other), data) == 'other zones'
    fewer = cfg()
    fewer['zones'] = fewer['zones'][:2]
    assert thermal_state.restore(thermal.Thermal(fewer), data) == 'other zones'
    renamed = cfg()
    renamed['zones'][2]['name'] = 'screen'
    assert thermal_state.restore(thermal.Thermal(renamed), data) == 'other zones'
