# MicroPython entry point used by bench_firmware when the firmware's app.py does not report its heap
# itself: imports the firmware, logs the live heap right after the imports (HEAP_BASE) and then
# every `heap_report_ms` (HEAP), each after gc.collect(), while running the firmware unchanged.
# It also logs the loaded modules whenever that set grows (MODULES a,b,...), so that the bench can
# measure the heap those modules take on their own (lazy imports included).
import asyncio
import gc
import json
import sys
import time

import app

try:
    import board.sim  # noqa: F401  # imported by make_board on first use: count it as code
except ImportError:
    pass


def _heap(tag):
    gc.collect()
    print(time.ticks_ms(), "INFO", tag + " alloc=" + str(gc.mem_alloc()))


async def _report(every_ms):
    seen = 0
    while True:
        if len(sys.modules) != seen:
            seen = len(sys.modules)
            print(time.ticks_ms(), "INFO", "MODULES " + ",".join(sorted(sys.modules)))
        _heap("HEAP")
        await asyncio.sleep_ms(every_ms)


async def _main():
    with open("station.json") as f:
        station = json.load(f)
    asyncio.create_task(_report(station.get("heap_report_ms") or 100))
    await app.App(station).run()


_heap("HEAP_BASE")
asyncio.run(_main())
