# Boot-time recovery of the transaction journal for ocpp16 (run once; app may unload it after).
#
# Per local transaction id (ltx), the record kinds left in the journal tell what happened before
# the reboot (ocpp16.py explains the order in which records are written and removed):
#   S           Start not answered yet: send it
#   S + B       Start answered, cut before the S was removed: drop the S (never sent twice)
#   B or S (no T)  the transaction was running at the cut: append StopTransaction(PowerLoss)
#   T, no S/B   Stop answered, cut before the T was removed: drop the T
#   M, no S/B   readings of a transaction already closed: drop
import json

import ocpp16_msg as msg


def _ltx(data):
    return int(data[:data.find(' ')])


def recover(core, now_ms):
    # rebuilds core.bind and core.next_ltx; returns the live journal record count
    j = core.journal
    kinds = {}  # ltx -> bits: 1 S, 2 B, 4 T
    run = {}  # ltx -> S or B data, the start of a transaction possibly cut by power loss
    top = 0
    for seq, kind, data in j.records():
        if kind not in 'SBT':
            continue
        ltx = _ltx(data)
        top = max(top, ltx)
        kinds[ltx] = kinds.get(ltx, 0) | (1 if kind == 'S' else 2 if kind == 'B' else 4)
        if kind == 'B':
            core.bind[ltx] = [int(data.split(' ', 2)[1]), seq]
        if kind != 'T' and (kind == 'S' or ltx not in run):
            run[ltx] = data
    core.next_ltx = top + 1
    drop = []
    for seq, kind, data in j.records():
        if kind in 'STM':
            k = kinds.get(_ltx(data), 0)
            if (kind == 'S' and k & 2) or (kind != 'S' and not k & 3):
                drop.append(seq)
    for seq in drop:
        j.remove(seq)
    energy = core.meter()[0]
    for ltx in run:
        if kinds[ltx] & 4:
            continue
        data = run[ltx]
        i = data.find(' ')
        if data[i + 1] == '{':  # an S record: its payload
            p = json.loads(data[i + 1:])
            start, start_ts = p['meterStart'], p['timestamp']
        else:  # a B record: "<ltx> <txid> <meterStart> <timestamp>"
            f = data.split(' ')
            start, start_ts = int(f[2]), f[3]
        stop = max(energy, start)
        core.append('T', msg.stop_body(ltx, None, stop, 'PowerLoss', core.ts(), start, start_ts,
                                       core.cfg_get('StopTxnSampledData')))
        core.log('TX_STOP ltx=%d reason=PowerLoss meter=%d' % (ltx, stop))
    n = 0
    for _ in j.records():
        n += 1
    return n
