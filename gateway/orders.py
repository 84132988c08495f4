"""Grid dispatch messages: orders, cancels, acknowledgements, telemetry, verification.

One source of truth: these pydantic models validate what arrives over MQTT, and their JSON Schema
is what ``docs/v2g.md`` publishes (``python -m gateway.orders`` prints it). Sign convention: a
positive ``target_kw`` is import (the group charges), negative is export.

Signatures: a grid party may sign a message with HMAC-SHA256 under a key shared with the operator.
The signed text is the message's JSON object without its ``signature`` member, serialised with
sorted keys, no spaces, UTF-8 (``canonical``); ``signature`` is the lowercase hex digest. The check
runs on the object as received (before pydantic turns numbers into floats), so both sides hash
the same text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

INTERVAL_S = 900  # settlement interval: 15 minutes
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"  # also safe as an MQTT topic level


class Interval(BaseModel):
    """One settlement interval of an order."""

    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(description="UTC start, on a 15-minute boundary")
    target_kw: float = Field(
        ge=-1e6, le=1e6, description="absolute: group power; relative: change against the baseline"
    )
    tolerance_kw: float = Field(ge=0, le=1e6, description="accepted deviation of the interval's mean power")

    @field_validator("start")
    @classmethod
    def _on_boundary(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a time zone (UTC 'Z' or an offset)")
        value = value.astimezone(UTC)
        if value.second or value.microsecond or value.minute % 15:
            raise ValueError("start must fall on a 15-minute boundary")
        return value

    @property
    def end(self) -> datetime:
        """End of the interval (start + 15 min)."""
        return self.start + timedelta(seconds=INTERVAL_S)


class Order(BaseModel):
    """A setpoint for one group of stations. A higher ``revision`` of the same ``order_id`` replaces
    the order from its next interval on."""

    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(pattern=ID_PATTERN)
    revision: int = Field(ge=0)
    party: str = Field(pattern=ID_PATTERN, description="the grid party sending it (selects the HMAC key)")
    group: str = Field(pattern=ID_PATTERN)
    mode: Literal["absolute", "relative"] = Field(
        description="absolute: target is the group power; relative: target is added to the baseline"
    )
    intervals: list[Interval] = Field(min_length=1, max_length=192)  # up to 48 h
    response_deadline: datetime = Field(description="the accepted/rejected ack is due before this")
    priority: Literal["normal", "emergency"] = "normal"
    fallback: Literal["normal", "hold"] = Field(
        "normal",
        description="when the order ends: normal = back to unrestricted charging; hold = keep the last "
        "interval's group power until the stations' profiles expire (at most one interval)",
    )
    signature: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _contiguous(self) -> Order:
        starts = [i.start for i in self.intervals]
        for a, b in zip(starts, starts[1:], strict=False):
            if b - a != timedelta(seconds=INTERVAL_S):
                raise ValueError("intervals must be consecutive 15-minute intervals in time order")
        if self.response_deadline.tzinfo is None:
            raise ValueError("response_deadline needs a time zone")
        return self

    @property
    def start(self) -> datetime:
        """Start of the first interval."""
        return self.intervals[0].start

    @property
    def end(self) -> datetime:
        """End of the last interval."""
        return self.intervals[-1].end


class Cancel(BaseModel):
    """Ends an order now; the group goes back to normal charging."""

    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(pattern=ID_PATTERN)
    party: str = Field(pattern=ID_PATTERN)
    reason: str | None = Field(None, max_length=200)
    signature: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


Stage = Literal["received", "accepted", "partial", "rejected", "started", "completed", "cancelled"]


class Ack(BaseModel):
    """A stage of an order's life, published on ``dispatch/ack/{order_id}``."""

    order_id: str
    revision: int | None = None
    stage: Stage
    time: datetime
    committed_kw: list[float] | None = Field(
        None, description="accepted/partial: the group power Frostgrid commits to, per interval"
    )
    reason: str | None = None
    field: str | None = Field(None, description="rejected: the message field at fault (dotted path)")


class Flexibility(BaseModel):
    """What the group could do in one coming hour (positive = more import possible)."""

    hour_start: datetime
    up_kw: float = Field(description="extra import the group could take")
    down_kw: float = Field(description="import the group could shed, plus export it could give")
    up_kwh: float
    down_kwh: float


class Telemetry(BaseModel):
    """Published on ``telemetry`` every 60 s per group."""

    group: str
    time: datetime
    import_kw: float
    export_kw: float
    evs_connected: int
    mean_soc_pct: float | None
    flexibility: list[Flexibility]


class Verification(BaseModel):
    """Published on ``verification/{order_id}`` after each settlement interval."""

    order_id: str
    group: str
    interval_start: datetime
    target_kwh: float
    baseline_kwh: float
    delivered_kwh: float
    ratio: float | None = Field(description="delivered response / ordered response against the baseline")
    within_tolerance: bool


class Rejected(Exception):
    """A message refused, with the field at fault (dotted path, or None for the whole message)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def canonical(message: dict[str, Any]) -> bytes:
    """The text a signature covers: the object without ``signature``, sorted keys, no spaces."""
    body = {k: v for k, v in message.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(message: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of ``message`` with its ``signature`` set."""
    signed = dict(message)
    signed["signature"] = hmac.new(key, canonical(message), hashlib.sha256).hexdigest()
    return signed


def check_signature(message: dict[str, Any], keys: dict[str, bytes], required: bool) -> None:
    """Raise Rejected unless the signature is right (or absent where none is required and the party
    has no key). A party with a key must always sign."""
    party = message.get("party")
    key = keys.get(party) if isinstance(party, str) else None
    sig = message.get("signature")
    if key is None:
        if required:
            raise Rejected(f"no signing key for party {party!r}", "party")
        return
    if not isinstance(sig, str):
        raise Rejected("signature missing", "signature")
    expected = hmac.new(key, canonical(message), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sig):
        raise Rejected("signature does not match", "signature")


def _parse(raw: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise Rejected(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise Rejected("not a JSON object")
    return message


def _first_error(error: ValidationError) -> Rejected:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or None
    return Rejected(f"{where}: {first['msg']}" if where else first["msg"], where)


def order_id_of(raw: bytes | str) -> str | None:
    """The order id of a message, if it has a usable one (for addressing a rejection)."""
    try:
        value = json.loads(raw).get("order_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and re.match(ID_PATTERN, value) else None


def parse_order(
    raw: bytes | str, now: datetime, keys: dict[str, bytes] | None = None, require_signature: bool = False
) -> Order:
    """Check an order as it arrives; raises Rejected naming the field at fault."""
    message = _parse(raw)
    check_signature(message, keys or {}, require_signature)
    try:
        order = Order.model_validate(message)
    except ValidationError as error:
        raise _first_error(error) from None
    for n, interval in enumerate(order.intervals):
        if interval.end <= now:
            raise Rejected(f"interval {n} ended before the order arrived", f"intervals.{n}.start")
    if order.response_deadline.astimezone(UTC) < now:
        raise Rejected("response deadline already passed", "response_deadline")
    return order


def parse_cancel(
    raw: bytes | str, keys: dict[str, bytes] | None = None, require_signature: bool = False
) -> Cancel:
    """Check a cancel as it arrives; raises Rejected naming the field at fault."""
    message = _parse(raw)
    check_signature(message, keys or {}, require_signature)
    try:
        return Cancel.model_validate(message)
    except ValidationError as error:
        raise _first_error(error) from None


def json_schemas() -> dict[str, Any]:
    """The JSON Schema of every message, by topic role."""
    return {
        "dispatch/order": Order.model_json_schema(),
        "dispatch/cancel": Cancel.model_json_schema(),
        "dispatch/ack/{order_id}": Ack.model_json_schema(),
        "telemetry": Telemetry.model_json_schema(),
        "verification/{order_id}": Verification.model_json_schema(),
    }


if __name__ == "__main__":
    print(json.dumps(json_schemas(), indent=1))
