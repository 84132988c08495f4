# Code that runs rarely (boot, connecting, the backend's CALLs, compaction, configuration) lives
# in modules of its own that are loaded for one call and dropped after: a board that loads .mpy
# files into RAM holds that code only while it runs. Whatever else the call imports is dropped
# with it. A module loaded before the call (by the firmware, a test, a port with frozen modules)
# stays loaded. The first load interns the module's names for good (qstrs are never freed); the
# rest of it is freed with the module, at once: the heap is collected right after a module is
# dropped, while the stack is shallow. (Left to a later collection, deep in the next import, a
# stale word on the C stack may still point at the dropped code and keep kBs of it alive just when
# the next module needs the room.)
import gc
import sys


def call(name, fn, *args):
    # <module name>.<fn>(*args); a coroutine function's coroutine keeps its code alive until done
    mods = sys.modules
    had = list(mods)
    try:
        return getattr(__import__(name), fn)(*args)
    finally:
        gone = False
        for m in list(mods):
            if m not in had:
                del mods[m]
                gone = True
        if gone:
            gc.collect()
