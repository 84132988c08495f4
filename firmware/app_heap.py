# The live heap, reported for the test rig and the memory benchmark (station.json heap_report_ms;
# never set on a charger in the field). Loaded by app for the run (lazy.py), so a charger that does
# not report holds none of this. Log lines (log.log -> stdout):
#   HEAP <bytes>       every heap_report_ms: gc.mem_alloc() right after gc.collect()
#   MODULES <a,b,...>  the resident modules, whenever their number changes
#   LAZY <name>        the first time a module is loaded on demand (lazy.call), then once the
#                      qstr pool line of micropython.qstr_info(): on-demand modules intern their
#                      names for good, and one qstr too many costs a whole new pool
import asyncio
import gc
import sys

import lazy
import micropython
from log import log


def start(every_ms):
    # counts the modules lazy.call loads from now on (before the first yield: boot loads some),
    # returns the reporting coroutine
    seen = []  # modules lazy.call was asked for so far
    fresh = [False]  # a new one since the last report: the qstr count may have grown
    call = lazy.call

    def counting(name, fn, *args):
        if name not in seen:
            seen.append(name)
            fresh[0] = True
            log('INFO', 'LAZY ' + name)
        return call(name, fn, *args)

    lazy.call = counting  # modules look lazy.call up at each call, so they all go through this
    return _report(every_ms, fresh)


async def _report(every_ms, fresh):
    n = 0
    while True:
        if len(sys.modules) != n:
            n = len(sys.modules)
            log('INFO', 'MODULES ' + ','.join(sorted(sys.modules)))
        gc.collect()
        log('INFO', 'HEAP %d' % gc.mem_alloc())
        if fresh[0]:
            fresh[0] = False
            micropython.qstr_info()
        await asyncio.sleep_ms(every_ms)
