# Code that runs rarely (boot, connecting, the backend's CALLs, compaction, configuration) lives
# in modules of its own that are loaded for one call and dropped after: a board that loads .mpy
# files into RAM holds that code only while it runs. Whatever else the call imports is dropped
# with it. A module loaded before the call (by the firmware, a test, a port with frozen modules)
# stays loaded. The first load interns the module's names for good (qstrs are never freed); the
# rest of it is freed with the module.
import sys


def call(name, fn, *args):
    # <module name>.<fn>(*args); a coroutine function's coroutine keeps its code alive until done
    mods = sys.modules
    had = list(mods)
    try:
        return getattr(__import__(name), fn)(*args)
    finally:
        for m in list(mods):
            if m not in had:
                del mods[m]
