"""Warm the ``ocpp`` library's JSON-schema cache at start-up.

The library reads each schema from disk the first time an action is validated and keeps the
validator in ``ocpp.messages._validators``. Loading all of them at start-up moves that disk I/O and
parsing out of the first message of each kind, and makes a broken installation fail at start.
"""

from __future__ import annotations

import decimal

from ocpp import messages
from ocpp.messages import MessageType
from ocpp.v16.enums import Action

# The library validates these with Decimal floats (their schemas use multipleOf 0.1); the cache key
# ignores the float parser, so they must be loaded the same way here.
_DECIMAL_SCHEMAS = {
    (MessageType.Call, "SetChargingProfile"),
    (MessageType.Call, "RemoteStartTransaction"),
    (MessageType.CallResult, "GetCompositeSchedule"),
}


def warm_schema_cache(ocpp_version: str = "1.6") -> int:
    """Load the request and response schema of every OCPP 1.6 action; returns how many were loaded."""
    loaded = 0
    for action in Action:
        for message_type in (MessageType.Call, MessageType.CallResult):
            parse_float = decimal.Decimal if (message_type, action.value) in _DECIMAL_SCHEMAS else float
            messages.get_validator(message_type, action.value, ocpp_version, parse_float=parse_float)
            loaded += 1
    return loaded


def cached_schema_count() -> int:
    """How many validators the library holds (for tests and diagnostics)."""
    return len(messages._validators)
