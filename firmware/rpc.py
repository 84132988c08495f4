# OCPP-J (OCPP 1.6 JSON over WebSocket) RPC framing, pure: no I/O, no clock.
#   CALL       [2, uniqueId, action, {payload}]
#   CALLRESULT [3, uniqueId, {payload}]
#   CALLERROR  [4, uniqueId, errorCode, errorDescription, {errorDetails}]
import json
from micropython import const
from os import urandom
from binascii import hexlify

try:
    from time import ticks_diff
except ImportError:

    def ticks_diff(a, b):
        return a - b


CALL = 2
CALLRESULT = 3
CALLERROR = 4

# OCPP-J 1.6 section 4.2.3 error codes ("Occurence" is the 1.6 spelling, kept on the wire).
NOT_IMPLEMENTED = "NotImplemented"  # Requested Action is not known by receiver
NOT_SUPPORTED = "NotSupported"  # Requested Action is recognized but not supported by the receiver
INTERNAL_ERROR = "InternalError"  # receiver failed to process the Action
PROTOCOL_ERROR = "ProtocolError"  # Payload for Action is incomplete
SECURITY_ERROR = "SecurityError"  # a security issue prevented completing the Action
FORMATION_VIOLATION = "FormationViolation"  # Payload syntactically incorrect or not conform the PDU structure
PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"  # a field contains an invalid value
OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # a field violates occurrence constraints
TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"  # a field violates data type constraints
GENERIC_ERROR = "GenericError"  # any other error

_NO_UID = const("-1")  # uid answered when the frame does not even carry one


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
        raise RpcError(FORMATION_VIOLATION, _NO_UID, "not valid JSON")
    if type(msg) is not list or not msg:
        raise RpcError(FORMATION_VIOLATION, _NO_UID, "not a non-empty JSON array")
    n = len(msg)
    uid = msg[1] if n > 1 and type(msg[1]) is str else None
    kind = msg[0]
    if type(kind) is not int:  # also refuses true/false, which Python would take for 1/0
        raise RpcError(FORMATION_VIOLATION, _NO_UID if uid is None else uid,
                       "messageTypeId is not an integer")
    if kind != CALL and kind != CALLRESULT and kind != CALLERROR:
        raise RpcError(PROTOCOL_ERROR, _NO_UID if uid is None else uid, "unknown messageTypeId %d" % kind)
    if uid is None:
        raise RpcError(FORMATION_VIOLATION, _NO_UID, "uniqueId missing or not a string")
    if kind == CALL:
        if n != 4:
            raise RpcError(FORMATION_VIOLATION, uid, "CALL needs 4 elements, got %d" % n)
        if type(msg[2]) is not str:
            raise RpcError(FORMATION_VIOLATION, uid, "action is not a string")
        if type(msg[3]) is not dict:
            raise RpcError(TYPE_CONSTRAINT_VIOLATION, uid, "payload is not a JSON object")
        return (CALL, uid, msg[2], msg[3])
    if kind == CALLRESULT:
        if n != 3:
            raise RpcError(FORMATION_VIOLATION, uid, "CALLRESULT needs 3 elements, got %d" % n)
        if type(msg[2]) is not dict:
            raise RpcError(FORMATION_VIOLATION, uid, "payload is not a JSON object")
        return (CALLRESULT, uid, msg[2], None)
    if n != 5:
        raise RpcError(FORMATION_VIOLATION, uid, "CALLERROR needs 5 elements, got %d" % n)
    if type(msg[2]) is not str or type(msg[3]) is not str or type(msg[4]) is not dict:
        raise RpcError(FORMATION_VIOLATION, uid, "CALLERROR elements have wrong types")
    return (CALLERROR, uid, msg[2], (msg[3], msg[4]))


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
        self._n = 0

    def next(self):
        self._n += 1
        return "%s-%d" % (self.prefix, self._n)


class Pending:
    """The one CALL the charger has outstanding (OCPP-J allows one at a time). Pure: the caller
    passes ticks_ms values (compared wrap-safe)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.uid = None  # None = no CALL outstanding
        self.action = None
        self._t0 = 0
        self._timeout = 0

    @property
    def busy(self):
        return self.uid is not None

    def start(self, uid, action, now_ms, timeout_ms):
        if self.uid is not None:
            raise RuntimeError("a CALL is already outstanding: %s %s" % (self.action, self.uid))
        self.uid = uid
        self.action = action
        self._t0 = now_ms
        self._timeout = timeout_ms

    def match(self, uid):
        """If `uid` answers the outstanding CALL: clear it and return its action, else None."""
        if self.uid is None or uid != self.uid:
            return None
        a = self.action
        self.clear()
        return a

    def expired(self, now_ms):
        """If the outstanding CALL has timed out: clear it and return its action, else None."""
        if self.uid is None or ticks_diff(now_ms, self._t0) < self._timeout:
            return None
        a = self.action
        self.clear()
        return a

    def left_ms(self, now_ms):
        """Milliseconds until the outstanding CALL times out (0 if it has; None if none)."""
        if self.uid is None:
            return None
        w = self._timeout - ticks_diff(now_ms, self._t0)
        return w if w > 0 else 0
