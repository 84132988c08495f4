"""Orders for tests, built relative to a given time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def next_boundary(now: datetime) -> datetime:
    """The next 15-minute boundary after ``now``."""
    floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return floor + timedelta(minutes=15)


def order_message(
    now: datetime,
    targets_kw: list[float],
    order_id: str = "ORD-1",
    group: str = "feeder-7",
    revision: int = 1,
    start: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An order as a grid party would send it: consecutive intervals from ``start`` (default the
    next boundary), tolerance 10 % of |target| but at least 1 kW."""
    first = start or next_boundary(now)
    message: dict[str, Any] = {
        "order_id": order_id,
        "revision": revision,
        "party": "grid-a",
        "group": group,
        "mode": "absolute",
        "intervals": [
            {
                "start": (first + timedelta(minutes=15 * n)).isoformat().replace("+00:00", "Z"),
                "target_kw": kw,
                "tolerance_kw": max(1.0, 0.1 * abs(kw)),
            }
            for n, kw in enumerate(targets_kw)
        ],
        "response_deadline": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "priority": "normal",
        "fallback": "normal",
    }
    message.update(extra)
    return message
