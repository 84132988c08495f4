# The OCPP-J error codes and the diagnosis of a malformed frame, for rpc.py: loaded only when a
# frame does not pass rpc.parse's quick test (lazy.py), or when a code is asked for by name
# (rpc.FORMATION_VIOLATION goes through rpc.__getattr__).
from micropython import const

from rpc import CALL, CALLERROR, CALLRESULT, RpcError

# OCPP-J 1.6 section 4.2.3 error codes ("Occurence" is the 1.6 spelling, kept on the wire), by
# the names rpc offers them under; a table rather than globals, so that no name is interned
_CODES = {
    "NOT_IMPLEMENTED": "NotImplemented",  # Requested Action is not known by receiver
    "NOT_SUPPORTED": "NotSupported",  # Requested Action is recognized but not supported by the receiver
    "INTERNAL_ERROR": "InternalError",  # receiver failed to process the Action
    "PROTOCOL_ERROR": "ProtocolError",  # Payload for Action is incomplete
    "SECURITY_ERROR": "SecurityError",  # a security issue prevented completing the Action
    "FORMATION_VIOLATION": "FormationViolation",  # Payload syntactically incorrect or not the PDU
    "PROPERTY_CONSTRAINT_VIOLATION": "PropertyConstraintViolation",  # a field contains an invalid value
    "OCCURENCE_CONSTRAINT_VIOLATION": "OccurenceConstraintViolation",  # a field violates occurrences
    "TYPE_CONSTRAINT_VIOLATION": "TypeConstraintViolation",  # a field violates data type constraints
    "GENERIC_ERROR": "GenericError",  # any other error
}
_FORMATION = const("FormationViolation")
_NO_UID = const("-1")  # uid answered when the frame does not even carry one


def code(name):
    # rpc.<name> for an error code name
    v = _CODES.get(name)
    if v is None:
        raise AttributeError(name)
    return v


def explain(msg, parsed):
    # raise the RpcError that says what is wrong with `msg` (the frame's JSON value; parsed False:
    # the frame is not JSON at all)
    if not parsed:
        raise RpcError(_FORMATION, _NO_UID, "not valid JSON")
    if type(msg) is not list or not msg:
        raise RpcError(_FORMATION, _NO_UID, "not a non-empty JSON array")
    n = len(msg)
    uid = msg[1] if n > 1 and type(msg[1]) is str else None
    kind = msg[0]
    if type(kind) is not int:  # also refuses true/false, which Python would take for 1/0
        raise RpcError(_FORMATION, _NO_UID if uid is None else uid, "messageTypeId is not an integer")
    if kind != CALL and kind != CALLRESULT and kind != CALLERROR:
        raise RpcError("ProtocolError", _NO_UID if uid is None else uid, "unknown messageTypeId %d" % kind)
    if uid is None:
        raise RpcError(_FORMATION, _NO_UID, "uniqueId missing or not a string")
    if kind == CALL:
        if n != 4:
            raise RpcError(_FORMATION, uid, "CALL needs 4 elements, got %d" % n)
        if type(msg[2]) is not str:
            raise RpcError(_FORMATION, uid, "action is not a string")
        raise RpcError("TypeConstraintViolation", uid, "payload is not a JSON object")
    if kind == CALLRESULT:
        if n != 3:
            raise RpcError(_FORMATION, uid, "CALLRESULT needs 3 elements, got %d" % n)
        raise RpcError(_FORMATION, uid, "payload is not a JSON object")
    if n != 5:
        raise RpcError(_FORMATION, uid, "CALLERROR needs 5 elements, got %d" % n)
    raise RpcError(_FORMATION, uid, "CALLERROR elements have wrong types")
