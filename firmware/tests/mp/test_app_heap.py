# The heap reports of station.json heap_report_ms (app_heap.py), which the memory benchmark and the
# rig read from the real firmware's log, inside MicroPython.
import asyncio
import sys

import lazy
import log


def _run_reporter(every_ms, run_ms, during=None):
    # app_heap.start as app.App.run starts it, for run_ms; returns the log lines
    lines = []
    real_log, real_call = log.log, lazy.call
    log.log = lambda level, text: lines.append(level + ' ' + text)  # before app_heap binds it

    async def main():
        task = asyncio.create_task(lazy.call('app_heap', 'start', every_ms))
        await asyncio.sleep_ms(run_ms // 2)
        if during is not None:
            during()
        await asyncio.sleep_ms(run_ms - run_ms // 2)
        task.cancel()

    try:
        asyncio.run(main())
    finally:
        log.log, lazy.call = real_log, real_call
    return lines


def test_heap_is_reported_every_heap_report_ms_as_a_byte_count():
    lines = _run_reporter(40, 300)
    heaps = [int(x.split(' ')[2]) for x in lines if x.startswith('INFO HEAP ')]
    assert 5 <= len(heaps) <= 9, lines
    assert all(10000 < h < 100000 for h in heaps), heaps


def test_resident_modules_are_listed_and_the_reporter_is_not_among_them():
    lines = _run_reporter(40, 120)
    mods = [x[len('INFO MODULES '):].split(',') for x in lines if x.startswith('INFO MODULES ')]
    assert mods and 'lazy' in mods[0] and 'log' in mods[0], lines
    assert 'app_heap' not in sys.modules and all('app_heap' not in m for m in mods)


def test_a_module_loaded_on_demand_is_named_once():
    def twice():
        lazy.call('ws_url', 'parse_url', 'ws://h:1/p')
        lazy.call('ws_url', 'parse_url', 'ws://h:2/p')

    lines = _run_reporter(40, 160, twice)
    assert [x for x in lines if x.startswith('INFO LAZY')] == ['INFO LAZY ws_url'], lines
    assert 'ws_url' not in sys.modules  # still dropped after each call
