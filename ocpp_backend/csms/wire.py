"""Translation between OCPP 1.6 payloads (as the ``ocpp`` library hands them, snake_case) and the
domain types of the services."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v16 import datatypes

from ocpp_backend.services.id_tokens import Authorization
from ocpp_backend.services.meter_data import (
    DEFAULT_CONTEXT,
    DEFAULT_LOCATION,
    DEFAULT_MEASURAND,
    DEFAULT_UNIT,
    Reading,
)
from ocpp_backend.timeutil import format_ocpp_time, parse_ocpp_time

LOG = logging.getLogger(__name__)


def time_from_wire(text: str, field: str) -> datetime:
    """Parse a dateTime field; a malformed one is a PropertyConstraintViolation (the schema's
    ``format: date-time`` is not enforced by the validator)."""
    try:
        return parse_ocpp_time(text)
    except (ValueError, TypeError, AttributeError):
        raise PropertyConstraintViolationError(
            description=f"{field} is not an RFC 3339 date-time", details={"value": str(text)[:64]}
        ) from None


def readings_from_wire(meter_value: list[dict[str, Any]]) -> list[Reading]:
    """MeterValue[] → readings. Samples whose value is not a number (SignedData) are logged and
    skipped: refusing the message would make the station resend it forever."""
    readings: list[Reading] = []
    for entry in meter_value:
        timestamp = time_from_wire(entry["timestamp"], "meterValue.timestamp")
        for sample in entry["sampled_value"]:
            try:
                value = float(sample["value"])
            except ValueError:
                LOG.warning("skipping non-numeric sampled value %r", sample.get("value"))
                continue
            readings.append(
                Reading(
                    timestamp=timestamp,
                    value=value,
                    measurand=sample.get("measurand") or DEFAULT_MEASURAND,
                    phase=sample.get("phase"),
                    location=sample.get("location") or DEFAULT_LOCATION,
                    context=sample.get("context") or DEFAULT_CONTEXT,
                    unit=sample.get("unit") or DEFAULT_UNIT,
                )
            )
    return readings


def id_tag_info_to_wire(authorization: Authorization) -> datatypes.IdTagInfo:
    """Authorization → IdTagInfo."""
    return datatypes.IdTagInfo(
        status=authorization.status,
        parent_id_tag=authorization.parent_id_tag,
        expiry_date=(
            format_ocpp_time(authorization.expiry_date) if authorization.expiry_date is not None else None
        ),
    )
