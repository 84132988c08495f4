"""Hypothesis generates OCPP-J frames and garbage in CPython; the firmware's rpc module runs them
in MicroPython. A reference classifier written here from the OCPP-J 1.6 rules decides what
each frame must give."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.tests.mp_bridge import MicroPythonWorker

CODES = {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
         "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
         "TypeConstraintViolation", "GenericError"}


@pytest.fixture(scope="module")
def mp() -> Iterator[MicroPythonWorker]:
    """One MicroPython interpreter (ESP32-sized heap) for every example of this module."""
    worker = MicroPythonWorker()
    yield worker
    worker.close()


def parse_in_mp(mp: MicroPythonWorker, text: str) -> list:
    """rpc.parse(text) in MicroPython: ['ok', kind, uid, a, b] or ['err', code, uid, desc]."""
    out = mp.call("cases_rpc", "parse", text.encode().hex())
    return json.loads(bytes.fromhex(out).decode("utf-8", "surrogatepass"))


def reference(msg: Any) -> list:
    """What parse must answer for the JSON value `msg`: ['ok', ...] or ['err', code, uid]."""
    if not isinstance(msg, list) or not msg:
        return ["err", "FormationViolation", "-1"]
    uid = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else None
    some_uid = "-1" if uid is None else uid
    kind = msg[0]
    if type(kind) is not int:
        return ["err", "FormationViolation", some_uid]
    if kind not in (2, 3, 4):
        return ["err", "ProtocolError", some_uid]
    if uid is None:
        return ["err", "FormationViolation", "-1"]
    if kind == 2:
        if len(msg) != 4 or not isinstance(msg[2], str):
            return ["err", "FormationViolation", uid]
        if not isinstance(msg[3], dict):
            return ["err", "TypeConstraintViolation", uid]
        return ["ok", 2, uid, msg[2], msg[3]]
    if kind == 3:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            return ["err", "FormationViolation", uid]
        return ["ok", 3, uid, msg[2], None]
    if len(msg) != 5 or not all(isinstance(v, t) for v, t in zip(msg[2:], (str, str, dict), strict=True)):
        return ["err", "FormationViolation", uid]
    return ["ok", 4, uid, msg[2], [msg[3], msg[4]]]


# Text of the Basic Multilingual Plane without surrogates: MicroPython's json does not join
# "\\ud83d\\ude00"-style escapes into one character.
bmp_text = st.text(st.characters(codec="utf-8", max_codepoint=0xFFFF), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | bmp_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(bmp_text, inner, max_size=3),
    max_leaves=8,
)
payloads = st.dictionaries(bmp_text, json_values, max_size=4)
type_ids = st.one_of(st.sampled_from([2, 3, 4]), st.sampled_from([0, 1, 5, -2, 2.0, "2", True, None, [2]]),
                     st.integers())
tails = st.lists(st.one_of(bmp_text, payloads, json_values), max_size=4)
frames = st.one_of(
    st.tuples(st.just(2), bmp_text, bmp_text, payloads).map(list),
    st.tuples(st.just(3), bmp_text, payloads).map(list),
    st.tuples(st.just(4), bmp_text, bmp_text, bmp_text, payloads).map(list),
    st.tuples(type_ids, st.one_of(bmp_text, json_values), tails).map(lambda t: [t[0], t[1], *t[2]]),
    type_ids.map(lambda t: [t]),
    json_values,
)


@settings(max_examples=500, deadline=None)
@given(frames, st.booleans())
def test_every_frame_gets_the_tuple_or_the_callerror_code_the_spec_demands(mp, msg, ascii_only) -> None:
    got = parse_in_mp(mp, json.dumps(msg, ensure_ascii=ascii_only))
    want = reference(msg)
    if want[0] == "err":
        assert got[:3] == want, got
        assert isinstance(got[3], str) and got[3]
    else:
        assert got == want


def near_misses(draw: st.DrawFn) -> str:
    """A valid frame with a few characters deleted, inserted or replaced."""
    text = json.dumps(draw(frames), ensure_ascii=False)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["del", "ins", "rep"]))
        ch = draw(st.sampled_from(list('[]{},:"\\0123456789.-eE tfn') + ["\x00", "é", "\U0001f600"]))
        if op == "del":
            text = text[:i] + text[i + 1:]
        elif op == "ins":
            text = text[:i] + ch + text[i:]
        else:
            text = text[:i] + ch + text[i + 1:]
    return text


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.composite(near_misses)()))
def test_garbage_gives_a_valid_tuple_or_an_rpc_error_and_never_another_exception(mp, text) -> None:
    got = parse_in_mp(mp, text)  # an exception other than RpcError fails inside call()
    if got[0] == "err":
        assert got[1] in CODES and isinstance(got[2], str)
        return
    kind, uid, a, b = got[1:]
    assert isinstance(uid, str)
    if kind == 2:
        assert isinstance(a, str) and isinstance(b, dict)
    elif kind == 3:
        assert isinstance(a, dict) and b is None
    else:
        assert kind == 4 and isinstance(a, str) and isinstance(b[0], str) and isinstance(b[1], dict)


@settings(max_examples=150, deadline=None)
@given(bmp_text, bmp_text, payloads, bmp_text, st.one_of(st.none(), payloads))
def test_encoded_frames_are_the_json_arrays_ocpp_j_specifies(mp, uid, action, payload, desc, details) -> None:
    call = mp.call("cases_rpc", "encode", 2, uid, action, payload, None)
    assert json.loads(call) == [2, uid, action, payload]
    result = mp.call("cases_rpc", "encode", 3, uid, payload, None, None)
    assert json.loads(result) == [3, uid, payload]
    error = mp.call("cases_rpc", "encode", 4, uid, "GenericError", desc, details)
    assert json.loads(error) == [4, uid, "GenericError", desc, details or {}]
    for text in (call, result, error):
        assert parse_in_mp(mp, text) == reference(json.loads(text))


def test_message_ids_stay_unique_over_many_reboots(mp) -> None:
    ids = [i for _ in range(10) for i in mp.call("cases_rpc", "ids", 6, 25)]  # 60 boots in all
    assert len(set(ids)) == len(ids) == 1500
    assert all(re.fullmatch(r"[0-9a-f]{12}-[0-9]+", i) and len(i) <= 36 for i in ids)
    assert len({i.split("-")[0] for i in ids}) == 60


@st.composite
def pending_ops(draw: st.DrawFn) -> list[list]:
    t = 0
    ops = []
    for _ in range(draw(st.integers(1, 25))):
        t += draw(st.integers(0, 400))
        uid = draw(st.sampled_from(["a", "b", "c"]))
        ops.append(draw(st.sampled_from([
            ["start", uid, "Act" + uid, t, draw(st.integers(0, 1000))],
            ["match", uid], ["expired", t], ["busy"]])))
    return ops


def pending_model(ops: list[list]) -> list:
    """One CALL at a time: a second start is refused; a matching uid or the timeout frees it."""
    cur: list | None = None
    out: list = []
    for op in ops:
        if op[0] == "start":
            if cur is None:
                cur = op[1:]
                out.append("ok")
            else:
                out.append("refused")
        elif op[0] == "match":
            hit = cur is not None and cur[0] == op[1]
            out.append(cur[1] if hit else None)
            cur = None if hit else cur
        elif op[0] == "expired":
            hit = cur is not None and op[1] - cur[2] >= cur[3]
            out.append(cur[1] if hit else None)
            cur = None if hit else cur
        else:
            out.append(cur is not None)
    return out


@settings(max_examples=100, deadline=None)
@given(pending_ops())
def test_one_call_outstanding_answered_by_its_uid_or_freed_by_its_timeout(mp, ops) -> None:
    assert mp.call("cases_rpc", "pending", ops) == pending_model(ops)
