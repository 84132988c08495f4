"""Fixtures of the gateway tests: a private, access-controlled Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.tests.broker import Broker, running_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with users gateway, grid-a (grid party), backend-1 (bus) and viewer (no grants)."""
    with running_broker(tmp_path / "mosquitto") as started:
        yield started
