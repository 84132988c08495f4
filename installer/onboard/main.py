# Boot selector, the board's root main.py (written by `frostgrid device deploy`; MicroPython).
# The firmware lives in fw/. A deploy copies the new one to fw.new/, checks it, then switches with
# two renames: fw -> fw.prev, fw.new -> fw. A deploy cut between them leaves no fw/: boot from
# fw.prev/ then, so that a board is never left without a firmware that boots.
import os
import sys


def _pick():
    for d in ("fw", "fw.prev"):
        try:
            if os.stat(d + "/main.py")[0] & 0x8000:
                return d
        except OSError:
            pass
    return None


_d = _pick()
if _d is None:
    print("FWBOOT none: no firmware, staying at the REPL")
else:
    print("FWBOOT", _d)
    sys.path.insert(0, _d)
    del _pick
    import app

    app.main()
