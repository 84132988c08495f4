# The log line format the test rig and the demo parse: "<ticks_ms> <LEVEL> <msg>".
import time
import log


def test_log_prints_ticks_level_and_message_on_one_line():
    lines = []

    def capture(*args):
        lines.append(" ".join(str(a) for a in args))

    log.print = capture  # the module's print, shadowing the builtin for this test
    try:
        t0 = time.ticks_ms()
        log.log(log.INFO, "BOOT_ACCEPTED interval=300")
        log.log("ERROR", "config.json corrupt, defaults loaded")
    finally:
        del log.print
    assert len(lines) == 2
    t, level, msg = lines[0].split(" ", 2)
    assert time.ticks_diff(int(t), t0) >= 0 and level == "INFO" and msg == "BOOT_ACCEPTED interval=300"
    assert lines[1].split(" ", 2)[1:] == ["ERROR", "config.json corrupt, defaults loaded"]
