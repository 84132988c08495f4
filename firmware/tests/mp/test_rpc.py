# OCPP-J framing inside MicroPython: parse, every CALLERROR code, encoders, ids, one CALL pending.
import json
import rpc
from rpc import RpcError


def refused(text):
    try:
        rpc.parse(text)
    except RpcError as e:
        return (e.code, e.uid)
    raise AssertionError("parsed: %r" % text)


def test_valid_call_result_and_error_parse_to_documented_tuples():
    assert rpc.parse('[2, "19223201", "BootNotification", {"chargePointVendor": "F"}]') == \
        (rpc.CALL, "19223201", "BootNotification", {"chargePointVendor": "F"})
    assert rpc.parse('[3,"19223201",{"status":"Accepted","interval":300}]') == \
        (rpc.CALLRESULT, "19223201", {"status": "Accepted", "interval": 300}, None)
    assert rpc.parse('[4,"162376037","NotSupported","SetDisplayMessageRequest not implemented",{}]') == \
        (rpc.CALLERROR, "162376037", "NotSupported", ("SetDisplayMessageRequest not implemented", {}))


def test_not_json_is_formation_violation_with_uid_minus_1():
    for t in ("", "hello", "[2, \"a\"", "{\"a\": 1", "\x00\xff", "[2,'a','B',{}]"):
        assert refused(t) == (rpc.FORMATION_VIOLATION, "-1"), t


def test_not_an_array_is_formation_violation():
    for t in ('{"a": 1}', "5", '"text"', "null", "[]"):
        assert refused(t) == (rpc.FORMATION_VIOLATION, "-1"), t


def test_wrong_element_count_or_types_is_formation_violation_keeping_the_uid():
    assert refused('[2, "u1", "Heartbeat"]') == (rpc.FORMATION_VIOLATION, "u1")
    assert refused('[2, "u1", "Heartbeat", {}, 5]') == (rpc.FORMATION_VIOLATION, "u1")
    assert refused('[2, "u1", 7, {}]') == (rpc.FORMATION_VIOLATION, "u1")
    assert refused('[3, "u2"]') == (rpc.FORMATION_VIOLATION, "u2")
    assert refused('[3, "u2", [1]]') == (rpc.FORMATION_VIOLATION, "u2")
    assert refused('[4, "u3", "GenericError", "d"]') == (rpc.FORMATION_VIOLATION, "u3")
    assert refused('[4, "u3", 1, "d", {}]') == (rpc.FORMATION_VIOLATION, "u3")
    assert refused('[4, "u3", "GenericError", "d", []]') == (rpc.FORMATION_VIOLATION, "u3")
    assert refused('["2", "u4", "Heartbeat", {}]') == (rpc.FORMATION_VIOLATION, "u4")
    assert refused('[true, "u5", "Heartbeat", {}]') == (rpc.FORMATION_VIOLATION, "u5")
    assert refused('[2.0, "u6", "Heartbeat", {}]') == (rpc.FORMATION_VIOLATION, "u6")


def test_missing_or_non_string_uid_is_formation_violation_with_uid_minus_1():
    assert refused('[2]') == (rpc.FORMATION_VIOLATION, "-1")
    assert refused('[2, 17, "Heartbeat", {}]') == (rpc.FORMATION_VIOLATION, "-1")
    assert refused('[2, null, "Heartbeat", {}]') == (rpc.FORMATION_VIOLATION, "-1")


def test_unknown_message_type_is_protocol_error():
    assert refused('[5, "u7", "Heartbeat", {}]') == (rpc.PROTOCOL_ERROR, "u7")
    assert refused('[0, "u8"]') == (rpc.PROTOCOL_ERROR, "u8")
    assert refused('[-2]') == (rpc.PROTOCOL_ERROR, "-1")


def test_call_payload_that_is_not_an_object_is_type_constraint_violation():
    for p in ("[]", "1", '"x"', "null", "true"):
        assert refused('[2, "u9", "Authorize", %s]' % p) == (rpc.TYPE_CONSTRAINT_VIOLATION, "u9"), p


def test_absurd_nesting_and_huge_numbers_are_refused_or_parsed_never_crash():
    assert refused("[" * 3000 + "]" * 3000)[0] == rpc.FORMATION_VIOLATION
    assert refused("[" * 3000)[0] == rpc.FORMATION_VIOLATION
    t = rpc.parse('[2, "u", "DataTransfer", {"n": 123456789012345678901234567890, "f": 1e400}]')
    assert t[3]["n"] == 123456789012345678901234567890


def test_error_codes_use_the_ocpp_16_names():
    names = [rpc.NOT_IMPLEMENTED, rpc.NOT_SUPPORTED, rpc.INTERNAL_ERROR, rpc.PROTOCOL_ERROR,
             rpc.SECURITY_ERROR, rpc.FORMATION_VIOLATION, rpc.PROPERTY_CONSTRAINT_VIOLATION,
             rpc.OCCURENCE_CONSTRAINT_VIOLATION, rpc.TYPE_CONSTRAINT_VIOLATION, rpc.GENERIC_ERROR]
    assert names == ["NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
                     "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
                     "TypeConstraintViolation", "GenericError"]


def test_rpc_error_answers_as_callerror():
    try:
        rpc.parse('[2, "abc", "Reset", 3]')
    except RpcError as e:
        out = json.loads(rpc.encode_error(e.uid, e.code, e.desc))
    assert out[0] == 4 and out[1] == "abc" and out[2] == "TypeConstraintViolation"
    assert isinstance(out[3], str) and out[3] and out[4] == {}


def test_encoders_roundtrip_through_parse():
    p = {"idTag": "CARD-\u00e9", "meterStart": 12, "list": [1, None, True], "q": "a\"b\\c"}
    assert rpc.parse(rpc.encode_call("x1", "StartTransaction", p)) == (2, "x1", "StartTransaction", p)
    assert rpc.parse(rpc.encode_result("x2", p)) == (3, "x2", p, None)
    assert rpc.parse(rpc.encode_error("x3", "NotImplemented")) == (4, "x3", "NotImplemented", ("", {}))
    assert rpc.parse(rpc.encode_error("x4", "GenericError", "oops", {"k": 1})) == \
        (4, "x4", "GenericError", ("oops", {"k": 1}))


def test_ids_are_unique_within_a_boot_and_across_reboots():
    seen = set()
    for boot in range(4):
        g = rpc.IdGen()
        for _ in range(100):
            uid = g.next()
            assert uid not in seen and len(uid) <= 36
            seen.add(uid)
    assert len(seen) == 400


def test_ids_differ_between_boots_even_with_the_same_counter():
    a = rpc.IdGen().next()
    b = rpc.IdGen().next()
    assert a != b and a.endswith("-1") and b.endswith("-1")


def test_pending_holds_one_call_and_matches_its_result():
    p = rpc.Pending()
    assert not p.busy and p.left_ms(0) is None
    p.start("id1", "Authorize", 1000, 30000)
    assert p.busy and p.left_ms(11000) == 20000
    try:
        p.start("id2", "Heartbeat", 1001, 30000)
    except RuntimeError:
        pass
    else:
        raise AssertionError("second CALL accepted while one is outstanding")
    assert p.match("other") is None and p.busy
    assert p.match("id1") == "Authorize" and not p.busy
    assert p.match("id1") is None


def test_pending_expires_at_the_timeout_and_frees_the_slot():
    p = rpc.Pending()
    p.start("id1", "StartTransaction", 500, 100)
    assert p.expired(599) is None and p.busy
    assert p.expired(600) == "StartTransaction" and not p.busy
    assert p.expired(10000) is None
    p.start("id2", "Heartbeat", 700, 100)
    assert p.match("id1") is None and p.match("id2") == "Heartbeat"


def test_pending_timeout_survives_ticks_wraparound():
    import time
    t0 = time.ticks_add(0, -50)
    p = rpc.Pending()
    p.start("w", "Heartbeat", t0, 100)
    assert p.expired(time.ticks_add(t0, 99)) is None
    assert p.expired(time.ticks_add(t0, 100)) == "Heartbeat"


def test_parse_takes_the_zero_copy_memoryview_of_a_received_message():
    buf = bytearray(b'[2, "m1", "Reset", {"type": "Soft"}]' + b"\x00" * 20)
    assert rpc.parse(memoryview(buf)[:36]) == (rpc.CALL, "m1", "Reset", {"type": "Soft"})
