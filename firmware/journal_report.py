# The journal backlog report of ocpp16 (docs/interfaces.md §2, "Journal backlog report"), loaded
# for each use (lazy.py): once a connection, and once when a reported backlog has drained.
#   connected(core, now_ms)  the station was accepted on a new connection (ocpp16_boot): when its
#                            journal holds _MIN_RECORDS or more records to send (S, T, M) it tells
#                            the backend how many before it replays them: DataTransfer vendorId
#                            "Frostgrid", messageId "Journal", data '{"n": <records>}'; after a
#                            report at or above the mark every connection reports again, so a
#                            count below it (down to 0) reaches the backend
#   drained(core)            ocpp16_out found no record left to send after such a report: the
#                            report of n = 0 goes after the replay, so the backend clears its
#                            journal_backlog alarm (raised at n >= its alarm_journal_backlog_records)
# core.j_high: the last report was at or above the mark. The backend decides the alarm; the mark
# only keeps a station with a short backlog quiet.
from micropython import const

import ocpp16_out

_MIN_RECORDS = const(10)


def connected(core, now_ms):
    n = core.journal.count('STM')
    if n >= _MIN_RECORDS or core.j_high:
        drained(core, n, now_ms)


def drained(core, n=0, now_ms=None):
    core.j_high = n >= _MIN_RECORDS
    core.log('JOURNAL_REPORT n=%d' % n)
    # data is a JSON text inside the JSON payload
    p = '{"vendorId":"Frostgrid","messageId":"Journal","data":"{\\"n\\": %d}"}' % n
    if now_ms is None or core.pending.busy:
        core.enqueue('DataTransfer', p)
    else:  # the outstanding CALL now: ahead of the journal's replay
        ocpp16_out.call(core, 'DataTransfer', p, now_ms)
