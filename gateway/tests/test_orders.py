"""Order checks: what a grid party sends is refused with the field at fault, or accepted whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.orders import Rejected, canonical, parse_cancel, parse_order, sign
from gateway.tests.factory import order_message

NOW = datetime(2026, 12, 21, 16, 52, 10, tzinfo=UTC)
KEYS = {"grid-a": b"shared secret of grid-a"}


def raw(message: dict) -> bytes:
    return json.dumps(message).encode()


def rejection(message: dict | bytes, **kwargs) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse_order(message if isinstance(message, bytes) else raw(message), NOW, **kwargs)
    return caught.value


def test_a_well_formed_order_is_accepted_with_its_intervals_in_utc() -> None:
    order = parse_order(raw(order_message(NOW, [500.0, 0.0, -800.0])), NOW)
    assert order.start == datetime(2026, 12, 21, 17, 0, tzinfo=UTC)
    assert order.end == datetime(2026, 12, 21, 17, 45, tzinfo=UTC)
    assert [i.target_kw for i in order.intervals] == [500.0, 0.0, -800.0]


def test_missing_group_is_refused_naming_the_group_field() -> None:
    message = order_message(NOW, [100.0])
    del message["group"]
    assert rejection(message).field == "group"


def test_a_wrong_mode_is_refused_naming_the_mode_field() -> None:
    assert rejection(order_message(NOW, [100.0], mode="percent")).field == "mode"


def test_an_interval_off_the_quarter_hour_is_refused_naming_that_interval() -> None:
    message = order_message(NOW, [100.0, 100.0])
    message["intervals"][1]["start"] = "2026-12-21T17:20:00Z"
    assert rejection(message).field == "intervals.1.start"


def test_gaps_between_intervals_are_refused() -> None:
    message = order_message(NOW, [100.0, 100.0])
    message["intervals"][1]["start"] = "2026-12-21T17:30:00Z"
    assert "consecutive" in rejection(message).reason


def test_an_interval_already_over_is_refused_naming_it() -> None:
    message = order_message(NOW, [100.0, 100.0], start=datetime(2026, 12, 21, 16, 30, tzinfo=UTC))
    error = rejection(message)
    assert error.field == "intervals.0.start"
    assert "ended" in error.reason


def test_an_interval_under_way_is_still_accepted() -> None:
    message = order_message(NOW, [100.0], start=datetime(2026, 12, 21, 16, 45, tzinfo=UTC))
    assert parse_order(raw(message), NOW).intervals[0].target_kw == 100.0


def test_unknown_fields_are_refused() -> None:
    assert rejection(order_message(NOW, [1.0], colour="red")).field == "colour"


def test_text_that_is_not_json_is_refused_without_a_field() -> None:
    error = rejection(b"{not json")
    assert error.field is None and "not JSON" in error.reason


def test_a_signed_order_with_the_party_key_is_accepted() -> None:
    signed = sign(order_message(NOW, [100.0]), KEYS["grid-a"])
    assert parse_order(raw(signed), NOW, keys=KEYS).order_id == "ORD-1"


def test_an_order_altered_after_signing_is_refused_naming_the_signature() -> None:
    signed = sign(order_message(NOW, [100.0]), KEYS["grid-a"])
    signed["intervals"][0]["target_kw"] = -100.0
    assert rejection(signed, keys=KEYS).field == "signature"


def test_a_party_with_a_key_must_sign() -> None:
    assert rejection(order_message(NOW, [100.0]), keys=KEYS).reason == "signature missing"


def test_a_signature_with_another_party_key_is_refused() -> None:
    signed = sign(order_message(NOW, [100.0]), b"someone else's key")
    assert rejection(signed, keys=KEYS).field == "signature"


def test_unsigned_orders_from_unknown_parties_are_refused_when_signatures_are_required() -> None:
    assert rejection(order_message(NOW, [100.0]), require_signature=True).field == "party"


def test_the_signed_text_ignores_key_order_and_spacing() -> None:
    message = order_message(NOW, [100.0])
    reordered = dict(reversed(list(message.items())))
    assert canonical(message) == canonical(reordered)
    signed = sign(message, KEYS["grid-a"])
    spaced = json.dumps(dict(reversed(list(signed.items()))), indent=3).encode()
    assert parse_order(spaced, NOW, keys=KEYS).order_id == "ORD-1"


def test_a_cancel_is_checked_like_an_order() -> None:
    good = sign({"order_id": "ORD-1", "party": "grid-a"}, KEYS["grid-a"])
    assert parse_cancel(raw(good), KEYS).order_id == "ORD-1"
    with pytest.raises(Rejected) as caught:
        parse_cancel(raw({**good, "order_id": "ORD-2"}), KEYS)
    assert caught.value.field == "signature"


def test_a_deadline_in_the_past_is_refused() -> None:
    message = order_message(NOW, [100.0])
    message["response_deadline"] = (NOW - timedelta(seconds=1)).isoformat()
    assert rejection(message).field == "response_deadline"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(order_message(NOW, [1.0]))), json_values)
def test_any_corrupted_field_gives_a_rejection_naming_a_field_never_a_crash(
    field: str, value: object
) -> None:
    message = order_message(NOW, [100.0, -50.0])
    message[field] = value
    try:
        order = parse_order(raw(message), NOW, keys=KEYS if field == "signature" else None)
    except Rejected as error:
        assert error.reason
        return
    # what passes is a whole, consistent order
    assert order.intervals and order.end > NOW
