# OCPP-J (OCPP 1.6 JSON over WebSocket) RPC framing, pure: no I/O, no clock.
#   CALL       [2, uniqueId, action, {payload}]
#   CALLRESULT [3, uniqueId, {payload}]
#   CALLERROR  [4, uniqueId, errorCode, errorDescription, {errorDetails}]
import json
from micropython import const
from os import urandom
from binascii import hexlify
from time import ticks_diff

import lazy

CALL = 2
CALLRESULT = 3
CALLERROR = 4
# The OCPP-J error codes (rpc.FORMATION_VIOLATION, ...) and the diagnosis of a malformed frame live
# in rpc_bad.py, loaded only when a frame is malformed (or a name is asked for, __getattr__).
_NO_UID = const("-1")  # uid answered when the frame does not even carry one


def __getattr__(name):
    # rpc.FORMATION_VIOLATION and the other error code names
    return lazy.call("rpc_bad", "code", name)


class RpcError(Exception):
    """A frame that cannot be processed; answer it with encode_error(e.uid, e.code, e.desc)."""

    def __init__(self, code, uid=_NO_UID, desc=""):
        super().__init__(code, uid, desc)
        self.code = code
        self.uid = uid
        self.desc = desc


def parse(text):
    """Parse one OCPP-J frame.

    Returns (CALL, uid, action, payload), (CALLRESULT, uid, payload, None) or
    (CALLERROR, uid, code, (desc, details)). Raises RpcError for anything else, and nothing else.
    """
    try:
        msg = json.loads(text)
    except Exception:  # ValueError, and MemoryError on absurd nesting: not something we can parse
        lazy.call("rpc_bad", "explain", None, False)
    if type(msg) is list and len(msg) in (3, 4, 5) and type(msg[0]) is int and type(msg[1]) is str:
        kind, n, a = msg[0], len(msg), msg[2]  # the well-formed frames, quickly; rpc_bad says why not
        if kind == CALL and n == 4 and type(a) is str and type(msg[3]) is dict:
            return (CALL, msg[1], a, msg[3])
        if kind == CALLRESULT and n == 3 and type(a) is dict:
            return (CALLRESULT, msg[1], a, None)
        if kind == CALLERROR and n == 5 and type(a) is str and type(msg[3]) is str and type(msg[4]) is dict:
            return (CALLERROR, msg[1], a, (msg[3], msg[4]))
    lazy.call("rpc_bad", "explain", msg, True)


def encode_call(uid, action, payload):
    return json.dumps([CALL, uid, action, payload])


def encode_result(uid, payload):
    return json.dumps([CALLRESULT, uid, payload])


def encode_error(uid, code, desc="", details=None):
    return json.dumps([CALLERROR, uid, code, desc, {} if details is None else details])


class IdGen:
    """Message ids unique across reboots: a random prefix drawn at boot, then a counter."""

    def __init__(self, rand=urandom):
        self.prefix = hexlify(rand(6)).decode()  # 48 random bits per boot
        self.n = 0

    def next(self):
        self.n += 1
        return "%s-%d" % (self.prefix, self.n)


class Pending:
    """The one CALL the charger has outstanding (OCPP-J allows one at a time). Pure: the caller
    passes ticks_ms values (compared wrap-safe)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.uid = None  # None = no CALL outstanding
        self.action = None
        self.time = 0  # ticks when it was sent
        self.timeout = 0  # ms it may take

    @property
    def busy(self):
        return self.uid is not None

    def start(self, uid, action, now_ms, timeout_ms):
        if self.uid is not None:
            raise RuntimeError("a CALL is already outstanding: %s %s" % (self.action, self.uid))
        self.uid = uid
        self.action = action
        self.time = now_ms
        self.timeout = timeout_ms

    def match(self, uid):
        """If `uid` answers the outstanding CALL: clear it and return its action, else None."""
        if self.uid is None or uid != self.uid:
            return None
        a = self.action
        self.clear()
        return a

    def expired(self, now_ms):
        """If the outstanding CALL has timed out: clear it and return its action, else None."""
        if self.uid is None or ticks_diff(now_ms, self.time) < self.timeout:
            return None
        a = self.action
        self.clear()
        return a

    def left_ms(self, now_ms):
        """Milliseconds until the outstanding CALL times out (0 if it has; None if none)."""
        if self.uid is None:
            return None
        w = self.timeout - ticks_diff(now_ms, self.time)
        return w if w > 0 else 0
