# What the cold station's thermal controller learned survives a reboot: app_cold_evt.save_learned
# writes arrivals.bin and learned.bin, app_cold_make.build reads them back. In a module of its own:
# three stations are built one after the other in one test, on the heap of an ESP32.
from cold_rig import _rig, _steps
import app_cold_evt


def test_what_the_controller_learned_survives_a_reboot_and_a_bad_file_is_not_used():
    import gc
    import os
    app, cold = _rig()
    _steps(app, cold, (-30, -30), (-30, -30), 3)
    ctl = cold.ctl
    v0 = ctl.value_wh
    ctl.value_wh = v0 + 277
    ctl.zones[0].model.b = 456
    ctl.arrivals.record(8 * 3600)
    hist = ctl.arrivals.to_bytes()
    try:
        app_cold_evt.save_learned(cold)  # the hourly save
        app = cold = ctl = None  # a power cut (the heap of a test is an ESP32's: one station at a time)
        gc.collect()
        app, cold = _rig()  # the boot
        assert cold.ctl.value_wh == v0 + 277 and cold.ctl.zones[0].model.b == 456
        assert cold.ctl.arrivals.to_bytes() == hist
        app = cold = None
        gc.collect()
        with open('learned.bin', 'rb') as f:
            good = f.read()
        # a save cut inside a rename that is not atomic (FAT): only the complete tmp file is left
        os.rename('learned.bin', 'learned.bin.tmp')
        app, cold = _rig()
        assert cold.ctl.value_wh == v0 + 277, 'the complete tmp file is taken'
        app = cold = None
        gc.collect()
        data = bytearray(good)
        data[10] ^= 1
        with open('learned.bin', 'wb') as f:
            f.write(data)
        app, cold = _rig()
        assert cold.ctl.value_wh == v0 and cold.ctl.zones[0].model.b != 456, 'a corrupt file is not used'
        assert cold.ctl.arrivals.to_bytes() == hist, 'the arrival pattern is its own file'
    finally:
        for f in ('learned.bin', 'arrivals.bin', 'learned.bin.tmp'):
            try:
                os.remove(f)
            except OSError:
                pass
