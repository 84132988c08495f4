# OCPP-J cases executed in MicroPython for the hypothesis tests (test_rpc_hypothesis.py).
# Text travels as hex of its UTF-8 bytes, so that any string arrives exactly.
# Results of parse come back as hex of their JSON: a "\\ud800" escape makes MicroPython's json build
# a str holding a lone surrogate (CESU-8 bytes), which must not reach the worker's stdout raw.
import json
from binascii import hexlify, unhexlify
import rpc


def _parse(text_hex):
    text = str(unhexlify(text_hex), "utf-8")
    try:
        t = rpc.parse(text)
    except rpc.RpcError as e:
        assert type(e.code) is str and type(e.uid) is str and type(e.desc) is str
        return ["err", e.code, e.uid, e.desc]
    kind = t[0]
    if kind == rpc.CALLERROR:
        return ["ok", kind, t[1], t[2], list(t[3])]
    return ["ok", kind, t[1], t[2], t[3]]


def _finite(v):
    # MicroPython's json writes an overflowing number (1e309 parses as inf) as `inf`, which is
    # not JSON: such floats travel as their text
    if type(v) is float and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    if type(v) is list:
        return [_finite(x) for x in v]
    if type(v) is dict:
        return {k: _finite(x) for k, x in v.items()}
    return v


def parse(text_hex):
    """hex of the JSON of ['ok', kind, uid, a, b] or ['err', code, uid, desc]; any exception other
    than RpcError propagates."""
    return hexlify(json.dumps(_finite(_parse(text_hex))).encode()).decode()


def encode(kind, uid, a, b, c):
    if kind == rpc.CALL:
        return rpc.encode_call(uid, a, b)
    if kind == rpc.CALLRESULT:
        return rpc.encode_result(uid, a)
    if c is None:
        return rpc.encode_error(uid, a, b)
    return rpc.encode_error(uid, a, b, c)


def ids(boots, per_boot):
    out = []
    for _ in range(boots):
        g = rpc.IdGen()
        for _ in range(per_boot):
            out.append(g.next())
    return out


def pending(ops):
    """ops: ['start', uid, action, t, timeout] | ['match', uid] | ['expired', t] | ['busy'];
    returns each op's answer (start: 'ok' or 'refused')."""
    p = rpc.Pending()
    out = []
    for op in ops:
        if op[0] == "start":
            try:
                p.start(op[1], op[2], op[3], op[4])
                out.append("ok")
            except RuntimeError:
                out.append("refused")
        elif op[0] == "match":
            out.append(p.match(op[1]))
        elif op[0] == "expired":
            out.append(p.expired(op[1]))
        else:
            out.append(p.busy)
    return out
