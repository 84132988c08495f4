# Code that runs rarely (boot, connecting, the backend's CALLs, compaction, configuration) lives
# in modules of its own that are loaded for one call and dropped after: a board that loads .mpy
# files into RAM holds that code only while it runs. A module loaded by someone else before (a
# test, a port with frozen modules) stays loaded. The first load interns the module's names for
# good (qstrs are never freed); the rest of it is freed with the module.
import sys


def call(name, fn, *args):
    # <module name>.<fn>(*args); a coroutine function's coroutine keeps its code alive until done
    had = name in sys.modules
    mod = __import__(name)
    try:
        return getattr(mod, fn)(*args)
    finally:
        if not had:
            sys.modules.pop(name, None)
